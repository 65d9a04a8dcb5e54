//! Go-compatible durations: parsing `time.ParseDuration` strings ("5m", "1h30m", "-1s"),
//! formatting like Go's `Duration.String()` (used by `run --verbose`), and Ollama's `keep_alive`
//! value with its JSON rules. A leaf module: it depends on nothing else in the crate.

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// How long a model stays loaded after its last request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAlive {
    /// Unload after this long idle; zero means "unload as soon as the request ends".
    Duration(Duration),
    /// Never unload (any negative value).
    Forever,
}

impl KeepAlive {
    /// A number of seconds as Ollama reads it from JSON: negative means forever.
    pub fn from_seconds(secs: f64) -> KeepAlive {
        if secs < 0.0 || !secs.is_finite() || secs > 1e15 {
            KeepAlive::Forever
        } else {
            KeepAlive::Duration(Duration::from_secs_f64(secs))
        }
    }

    /// A signed duration in nanoseconds (from [`parse_go_duration`]).
    pub fn from_signed(nanos: i128) -> KeepAlive {
        if nanos < 0 {
            KeepAlive::Forever
        } else {
            KeepAlive::Duration(Duration::from_nanos(nanos.min(u64::MAX as i128) as u64))
        }
    }

    pub fn is_zero(&self) -> bool {
        matches!(self, KeepAlive::Duration(d) if d.is_zero())
    }
}

impl<'de> Deserialize<'de> for KeepAlive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match &v {
            serde_json::Value::Number(n) => Ok(KeepAlive::from_seconds(n.as_f64().unwrap_or(0.0))),
            serde_json::Value::String(s) => match parse_go_duration(s) {
                Some(n) => Ok(KeepAlive::from_signed(n)),
                None => Err(de::Error::custom(go_duration_error(s))),
            },
            other => Err(de::Error::custom(format!(
                "Unsupported type: '{}'",
                go_type_name(other)
            ))),
        }
    }
}

impl Serialize for KeepAlive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KeepAlive::Forever => s.serialize_i64(-1),
            KeepAlive::Duration(d) => s.serialize_str(&format_go_duration(*d)),
        }
    }
}

fn go_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Array(_) => "[]interface {}",
        serde_json::Value::Object(_) => "map[string]interface {}",
        serde_json::Value::Null => "<nil>",
        serde_json::Value::Number(_) => "float64",
        serde_json::Value::String(_) => "string",
    }
}

/// The message Go's `time.ParseDuration` gives for `s`.
pub fn go_duration_error(s: &str) -> String {
    let digits_only = !s.is_empty()
        && s.trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    if digits_only && s.trim_start_matches(['-', '+']) != "0" {
        format!("time: missing unit in duration \"{s}\"")
    } else {
        format!("time: invalid duration \"{s}\"")
    }
}

/// Parses a Go duration string into signed nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`,
/// units ns, us (µs), ms, s, m, h; "0" needs no unit.
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let n = total.round() as i128;
    Some(if neg { -n } else { n })
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5s", "12ms", "350µs", "0s".
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1u128)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = total_secs % 60;
    let secs = fraction(s * 1_000_000_000 + sub, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `value / scale` printed with the shortest exact decimal fraction.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let mut frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let mut digits = String::new();
    let mut s = scale;
    while s > 1 {
        s /= 10;
        digits.push(char::from(b'0' + (frac / s) as u8));
        frac %= s;
        if frac == 0 {
            break;
        }
    }
    format!("{whole}.{digits}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(parse_go_duration("5m"), Some(300_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("-1m"), Some(-60_000_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("-1"), None);
        assert_eq!(parse_go_duration("300"), None);
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("5x"), None);
    }

    #[test]
    fn errors_match_go() {
        assert_eq!(
            go_duration_error("-1"),
            "time: missing unit in duration \"-1\""
        );
        assert_eq!(go_duration_error("abc"), "time: invalid duration \"abc\"");
    }

    #[test]
    fn format() {
        let f = |n: u64| format_go_duration(Duration::from_nanos(n));
        assert_eq!(f(0), "0s");
        assert_eq!(f(1), "1ns");
        assert_eq!(f(1_500), "1.5µs");
        assert_eq!(f(12_000_000), "12ms");
        assert_eq!(f(12_345_678), "12.345678ms");
        assert_eq!(f(1_230_000_000), "1.23s");
        assert_eq!(f(90_000_000_000), "1m30s");
        assert_eq!(f(3_723_500_000_000), "1h2m3.5s");
    }

    #[test]
    fn keep_alive_json() {
        let k: KeepAlive = serde_json::from_str("\"10m\"").unwrap();
        assert_eq!(k, KeepAlive::Duration(Duration::from_secs(600)));
        let k: KeepAlive = serde_json::from_str("0").unwrap();
        assert!(k.is_zero());
        let k: KeepAlive = serde_json::from_str("-1").unwrap();
        assert_eq!(k, KeepAlive::Forever);
        let k: KeepAlive = serde_json::from_str("\"-1m\"").unwrap();
        assert_eq!(k, KeepAlive::Forever);
        let k: KeepAlive = serde_json::from_str("1.5").unwrap();
        assert_eq!(k, KeepAlive::Duration(Duration::from_millis(1500)));
        let e = serde_json::from_str::<KeepAlive>("\"-1\"").unwrap_err();
        assert!(e.to_string().contains("missing unit"), "{e}");
        let e = serde_json::from_str::<KeepAlive>("true").unwrap_err();
        assert!(e.to_string().contains("Unsupported type: 'bool'"), "{e}");
    }
}
