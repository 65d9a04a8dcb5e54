//! Text the CLI prints that must match Ollama's byte for byte: decimal byte sizes (`4.7 GB`),
//! relative times (`2 weeks ago`), and the borderless, four-space-padded tables of `list`,
//! `ps` and `show`. Pure functions; a leaf module.

use std::time::Duration;

/// Ollama's `format.HumanBytes` (1 KB = 1000 B).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1_000, "KB"),
    ];
    let Some(&(scale, unit)) = UNITS.iter().find(|(s, _)| b >= *s) else {
        return format!("{b} B");
    };
    let value = b as f64 / scale as f64;
    if value >= 10.0 || value == value.trunc() {
        format!("{} {unit}", value as u64)
    } else {
        format!("{value:.1} {unit}")
    }
}

/// Ollama's `humanDuration`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    match seconds {
        0 => return "Less than a second".to_string(),
        1 => return "1 second".to_string(),
        s if s < 60 => return format!("{s} seconds"),
        _ => {}
    }
    let minutes = seconds / 60;
    match minutes {
        1 => return "About a minute".to_string(),
        m if m < 60 => return format!("{m} minutes"),
        _ => {}
    }
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match hours {
        1 => "About an hour".to_string(),
        h if h < 48 => format!("{h} hours"),
        h if h < 24 * 7 * 2 => format!("{} days", h / 24),
        h if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        h if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", (d.as_secs_f64() / 3600.0 / 24.0 / 365.0) as u64),
    }
}

/// Ollama's `HumanTime`: "... ago", "... from now", or "Forever" far in the future.
pub fn human_time(
    t: chrono::DateTime<chrono::FixedOffset>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let delta = now.signed_duration_since(t);
    if delta.num_days() / 365 < -20 {
        return "Forever".to_string();
    }
    match delta.to_std() {
        Ok(d) => format!("{} ago", human_duration(d)),
        Err(_) => format!(
            "{} from now",
            human_duration((-delta).to_std().unwrap_or_default())
        ),
    }
}

/// A borderless table: every cell left-aligned and padded to its column's width, followed by
/// four spaces (tablewriter with `SetNoWhiteSpace(true)` and `SetTablePadding("    ")`).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, width) in widths.iter().enumerate() {
            let cell = row.get(c).map(String::as_str).unwrap_or("");
            out.push_str(cell);
            out.push_str(&" ".repeat(width - cell.chars().count() + 4));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1 KB");
        assert_eq!(human_bytes(1500), "1.5 KB");
        assert_eq!(human_bytes(253_113_024), "253 MB");
        assert_eq!(human_bytes(4_700_000_000), "4.7 GB");
        assert_eq!(human_bytes(2_019_377_376), "2.0 GB");
        assert_eq!(human_bytes(42_000_000_000), "42 GB");
    }

    #[test]
    fn durations() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(300)), "5 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
        assert_eq!(human_duration(s(15 * 86400)), "2 weeks");
        assert_eq!(human_duration(s(90 * 86400)), "3 months");
        assert_eq!(human_duration(s(800 * 86400)), "2 years");
    }

    #[test]
    fn times() {
        let now = chrono::Utc::now();
        let past = (now - chrono::Duration::days(15)).fixed_offset();
        assert_eq!(human_time(past, now), "2 weeks ago");
        let future =
            (now + chrono::Duration::minutes(4) + chrono::Duration::seconds(30)).fixed_offset();
        assert_eq!(human_time(future, now), "4 minutes from now");
        let forever = (now + chrono::Duration::days(365 * 200)).fixed_offset();
        assert_eq!(human_time(forever, now), "Forever");
    }

    #[test]
    fn tables() {
        let rows = vec![
            vec!["NAME".to_string(), "SIZE".to_string()],
            vec!["gemma3:270m".to_string(), "253 MB".to_string()],
        ];
        assert_eq!(
            table(&rows),
            "NAME           SIZE      \ngemma3:270m    253 MB    \n"
        );
    }
}
