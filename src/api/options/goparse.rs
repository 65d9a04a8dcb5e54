//! Go's `strconv.ParseBool`, `ParseInt(s, 10, 64)` and `ParseFloat(s, 32)` as Ollama's
//! `FormatParams` uses them: which strings are accepted and the `float32` they give.
//! Rust's own parsers differ at the edges (hex floats, `_` digit separators, `+nan`,
//! overflow to infinity), which decides whether a Modelfile is accepted.
//!
//! Pure functions over `&str`; no dependency on anything else in the crate.

/// `strconv.ParseBool`.
pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseInt(s, 10, 64)`: optional sign, ASCII digits, no separators, in range.
/// Rust's `i64::from_str` accepts exactly that language.
pub(super) fn parse_i64(s: &str) -> Option<i64> {
    s.parse().ok()
}

/// `strconv.ParseFloat(s, 32)`: `None` wherever Go returns an error, including
/// overflow past `f32::MAX` (Go's `ErrRange`). Underflow rounds to zero without error,
/// as in Go.
pub(super) fn parse_f32(s: &str) -> Option<f32> {
    if let Some(f) = special(s) {
        return Some(f);
    }
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    // Rust would take a second sign and the "+nan"-style spellings special() refused.
    if body
        .bytes()
        .next()
        .is_some_and(|c| matches!(c.to_ascii_lowercase(), b'i' | b'n' | b'+' | b'-'))
    {
        return None;
    }
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let cleaned: String = body.chars().filter(|&c| c != '_').collect();
    let bytes = cleaned.as_bytes();
    let magnitude = if bytes.len() > 2 && bytes[0] == b'0' && (bytes[1] | 0x20) == b'x' {
        parse_hex(&cleaned[2..])?
    } else {
        let f: f32 = cleaned.parse().ok()?;
        if f.is_infinite() {
            return None;
        }
        f
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// Go's `special`: `[+-]inf`, `[+-]infinity` and unsigned `nan`, any case, whole string.
fn special(s: &str) -> Option<f32> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1.0f32, &s[1..]),
        Some(b'-') => (-1.0f32, &s[1..]),
        _ => {
            if s.eq_ignore_ascii_case("nan") {
                return Some(f32::NAN);
            }
            (1.0f32, s)
        }
    };
    if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        return Some(sign * f32::INFINITY);
    }
    None
}

/// Go's `underscoreOK`: `_` only between digits, or between a base prefix and a digit.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    // '^' start, '0' digit or prefix, '_' underscore, '!' anything else.
    let mut saw = b'^';
    let mut hex = false;
    if b.len() >= i + 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = (b[i + 1] | 0x20) == b'x';
        saw = b'0';
        i += 2;
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// A hexadecimal float body after `0x`: hex digits with an optional point and a
/// mandatory `p` exponent, rounded once, to nearest-even, to `f32`.
fn parse_hex(s: &str) -> Option<f32> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut mant: u64 = 0;
    let mut exp2: i64 = 0;
    let mut sticky = false;
    let mut sig_digits = 0;
    let mut saw_dot = false;
    let mut saw_digit = false;
    while i < b.len() {
        let c = b[i];
        if c == b'.' {
            if saw_dot {
                break;
            }
            saw_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        saw_digit = true;
        if mant == 0 && d == 0 {
            // Leading zeros carry no precision but still scale fraction digits.
            if saw_dot {
                exp2 -= 4;
            }
        } else if sig_digits < 16 {
            mant = mant * 16 + u64::from(d);
            sig_digits += 1;
            if saw_dot {
                exp2 -= 4;
            }
        } else {
            // Past 64 bits of mantissa only "was anything non-zero" matters.
            sticky |= d != 0;
            if !saw_dot {
                exp2 += 4;
            }
        }
        i += 1;
    }
    if !saw_digit || i >= b.len() || (b[i] | 0x20) != b'p' {
        return None;
    }
    i += 1;
    let mut exp_neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        exp_neg = b[i] == b'-';
        i += 1;
    }
    if i >= b.len() {
        return None;
    }
    let mut e: i64 = 0;
    while i < b.len() {
        let c = b[i];
        if !c.is_ascii_digit() {
            return None;
        }
        // Saturate: anything this large is already far outside f32's range.
        if e < 100_000 {
            e = e * 10 + i64::from(c - b'0');
        }
        i += 1;
    }
    exp2 += if exp_neg { -e } else { e };
    round_f32(mant, exp2, sticky)
}

/// `mant * 2^exp2` (plus a sliver if `sticky`) rounded to nearest-even `f32`;
/// `None` on overflow.
fn round_f32(mant: u64, exp2: i64, sticky: bool) -> Option<f32> {
    if mant == 0 {
        return Some(0.0);
    }
    let bits = 64 - i64::from(mant.leading_zeros());
    let lead = exp2 + bits - 1;
    // Weight of the result's last bit: 24 significant bits, never below subnormals.
    let mut lsb = (lead - 23).max(-149);
    let shift = lsb - exp2;
    let mut m: u64 = if shift <= 0 {
        // The value has at most 24 significant bits here, so this cannot overflow.
        mant << (-shift)
    } else if shift >= 66 {
        0
    } else {
        let wide = u128::from(mant);
        let kept = wide >> shift;
        let rem = wide & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let up = rem > half || (rem == half && (sticky || kept & 1 == 1));
        // kept < 2^64 because mant does; the increment stays below 2^25.
        (kept as u64) + u64::from(up)
    };
    if m == 1 << 24 {
        m >>= 1;
        lsb += 1;
    }
    if m == 0 {
        return Some(0.0);
    }
    let top = lsb + 64 - i64::from(m.leading_zeros()) - 1;
    if top > 127 {
        return None;
    }
    // Exact: m < 2^24 and 2^lsb is a normal f64 for lsb in [-149, 104].
    let value = (m as f64) * 2f64.powi(lsb as i32);
    Some(value as f32)
}
