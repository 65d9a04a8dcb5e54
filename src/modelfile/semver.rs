//! `golang.org/x/mod/semver.IsValid`, which decides whether a Modelfile `REQUIRES`
//! value is accepted. It is looser than strict SemVer (`v1` and `v1.2` are valid) and
//! stricter in places (leading zeros), so it is reproduced rule for rule.
//!
//! Pure string logic; no other dependency.

/// Whether `v` (with its leading `v`) is a valid Go semantic version.
pub(super) fn is_valid(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let Some(rest) = number(rest) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix('.').and_then(number) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(mut rest) = rest.strip_prefix('.').and_then(number) else {
        return false;
    };
    if let Some(pre) = rest.strip_prefix('-') {
        let end = pre.find('+').unwrap_or(pre.len());
        if !identifiers(&pre[..end], true) {
            return false;
        }
        rest = &pre[end..];
    }
    if let Some(build) = rest.strip_prefix('+') {
        return identifiers(build, false);
    }
    rest.is_empty()
}

/// A decimal number without leading zeros; returns what follows it.
fn number(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits > 1 && s.starts_with('0')) {
        return None;
    }
    Some(&s[digits..])
}

/// Dot-separated, non-empty `[0-9A-Za-z-]` identifiers; for a prerelease, purely
/// numeric ones must not have leading zeros.
fn identifiers(s: &str, prerelease: bool) -> bool {
    s.split('.').all(|id| {
        !id.is_empty()
            && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !(prerelease
                && id.len() > 1
                && id.starts_with('0')
                && id.bytes().all(|c| c.is_ascii_digit()))
    })
}
