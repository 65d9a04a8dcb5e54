//! Go's text formatting where rollama must print exactly what Ollama prints: `%v` of a float
//! (`strconv.FormatFloat(f, 'g', -1, 64)`: `1`, `0.95`, `1e+06`) and `strconv.Quote`. A leaf.

/// Go's shortest `%v` / `%g` form of a float64.
pub fn float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's shortest formatting;
    // Go then uses exponent form when the decimal exponent is < -4 or >= 6 (`%g`, precision 6).
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return go_exponent(mantissa, exp);
    }
    format!("{f}")
}

/// `encoding/json`'s float64: plain decimal digits for 1e-6 <= |f| < 1e21, else exponent form
/// with a sign and no zero padding of a negative exponent (`1e+21`, `1e-7`).
pub fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < 0 {
        format!("{mantissa}e{exp}")
    } else {
        go_exponent(mantissa, exp)
    }
}

fn go_exponent(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%#v` of a JSON-decoded value, as `ollama show` prints parameters.
pub fn sharp_v(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => quote(s),
        serde_json::Value::Number(n) => float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Null => "<nil>".to_string(),
        other => other.to_string(),
    }
}

/// Go's `%v` of a JSON-decoded value, as the generated Modelfile prints parameters.
pub fn plain_v(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Null => "<nil>".to_string(),
        other => other.to_string(),
    }
}

/// Ollama's `format.HumanNumber`: 268098176 -> "268.10M", 8030261248 ->
/// "8.0B", 1000000000 -> "1B". Rust's `{:.N}` rounds the exact binary value
/// half-to-even, as Go's `%.Nf` does, so the digits agree.
pub fn human_number(n: u64) -> String {
    const THOUSAND: f64 = 1e3;
    const MILLION: f64 = 1e6;
    const BILLION: f64 = 1e9;
    let x = n as f64;
    let scaled = |div: f64, decimals: usize, suffix: &str| {
        let v = x / div;
        if v == v.floor() {
            format!("{v:.0}{suffix}")
        } else {
            format!("{v:.decimals$}{suffix}")
        }
    };
    if n >= 1_000_000_000 {
        scaled(BILLION, 1, "B")
    } else if n >= 1_000_000 {
        scaled(MILLION, 2, "M")
    } else if n >= 1_000 {
        format!("{:.0}K", x / THOUSAND)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_floats_like_encoding_json() {
        assert_eq!(json_float(3.0), "3");
        assert_eq!(json_float(1_000_000.0), "1000000");
        assert_eq!(json_float(0.5), "0.5");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1.5e-7), "1.5e-7");
        assert_eq!(json_float(0.0), "0");
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.95), "0.95");
        assert_eq!(float(64.0), "64");
        assert_eq!(float(4096.0), "4096");
        assert_eq!(float(100000.0), "100000");
        assert_eq!(float(1e6), "1e+06");
        assert_eq!(float(1234567.0), "1.234567e+06");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(0.00001), "1e-05");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(1e21), "1e+21");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("<end_of_turn>"), "\"<end_of_turn>\"");
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(quote("日本"), "\"日本\"");
    }
}
