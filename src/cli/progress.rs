//! Pull and push progress on stderr, drawn as Ollama draws it. In a terminal each status is a
//! spinner line (`pulling manifest ⠋`, left as its text when the next one starts) and each blob a
//! bar: `pulling dde5aa3fc5ff:  45% ▕██████████          ▏ 906 MB/2.0 GB  112 MB/s  10s`,
//! ending as `pulling dde5aa3fc5ff: 100% ▕████████████████████▏ 2.0 GB`. When stderr is not a
//! terminal, each status and each finished blob is one plain line, so logs stay readable.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::format::human_bytes;
use crate::api::types::ProgressResponse;
use crate::duration::format_go_duration;

pub struct Progress {
    draw: Option<MultiProgress>,
    spinner: Option<ProgressBar>,
    status: String,
    bars: HashMap<String, ProgressBar>,
    /// Plain mode: digests already reported complete.
    finished: HashSet<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        let draw = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            draw,
            spinner: None,
            status: String::new(),
            bars: HashMap::new(),
            finished: HashSet::new(),
        }
    }

    pub fn update(&mut self, p: &ProgressResponse) {
        if !p.digest.is_empty() {
            self.blob(p);
        } else if p.status != self.status {
            self.stop_spinner();
            self.status = p.status.clone();
            match &self.draw {
                Some(mp) => {
                    let s = mp.add(ProgressBar::new_spinner());
                    s.set_style(spinner_style());
                    s.set_message(p.status.clone());
                    s.enable_steady_tick(Duration::from_millis(100));
                    self.spinner = Some(s);
                }
                None => eprintln!("{}", p.status),
            }
        }
    }

    fn blob(&mut self, p: &ProgressResponse) {
        let label = p.status.clone();
        if self.draw.is_none() {
            if p.total > 0 && p.completed >= p.total && self.finished.insert(p.digest.clone()) {
                eprintln!("{label}: 100% {}", human_bytes(p.total));
            }
            return;
        }
        self.stop_spinner();
        let Some(mp) = &self.draw else { return };
        let bar = self.bars.entry(p.digest.clone()).or_insert_with(|| {
            let b = mp.add(ProgressBar::new(p.total));
            b.set_style(bar_style());
            b.set_prefix(label);
            b
        });
        if bar.is_finished() {
            return;
        }
        bar.set_length(p.total);
        bar.set_position(p.completed);
        if p.total > 0 && p.completed >= p.total {
            bar.set_style(done_style(&bar.prefix()));
            bar.finish();
        }
    }

    fn stop_spinner(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.set_style(stopped_style());
            s.finish();
        }
    }

    /// Leaves every line as it stands (on success or error) and lets go of the terminal, so
    /// what is printed next starts below the last line.
    pub fn finish(&mut self) {
        self.stop_spinner();
        for b in self.bars.values() {
            if !b.is_finished() {
                b.abandon();
            }
        }
        self.bars.clear();
        // indicatif leaves the cursor at the end of its last line.
        if self.draw.take().is_some() {
            eprintln!();
        }
    }
}

fn template(t: &str) -> ProgressStyle {
    ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn spinner_style() -> ProgressStyle {
    template("{msg} {spinner}")
        .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", ""])
}

fn stopped_style() -> ProgressStyle {
    template("{msg} ")
}

fn bar_style() -> ProgressStyle {
    template("{prefix}: {percent:>3}% ▕{wide_bar}▏ {sizes}{rate}{eta}")
        .progress_chars("█ ")
        .with_key("sizes", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let cur = human_bytes(s.pos());
            let max = human_bytes(s.len().unwrap_or(0));
            let _ = write!(w, "{cur:>6}/{max:<6}");
        })
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let rate = s.per_sec();
            if rate > 0.0 && rate.is_finite() {
                let _ = write!(w, "  {:>6}/s", human_bytes(rate as u64));
            } else {
                let _ = write!(w, "{:10}", "");
            }
        })
        .with_key("eta", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let rate = s.per_sec();
            let left = s.len().unwrap_or(0).saturating_sub(s.pos());
            if rate > 0.0 && rate.is_finite() {
                let secs = Duration::from_secs((left as f64 / rate) as u64);
                let _ = write!(w, "  {:>6}", format_go_duration(secs));
            } else {
                let _ = write!(w, "{:8}", "");
            }
        })
}

/// A finished bar keeps its width: the size stands where `cur/max` was, and the 25 columns of
/// rate and time left stay blank, as Ollama pads them. (A template cannot end in blanks, so the
/// bar gets an explicit width from the terminal's.)
fn done_style(prefix: &str) -> ProgressStyle {
    let cols = terminal_size::terminal_size_of(std::io::stderr())
        .map(|(w, _)| w.0 as usize)
        .unwrap_or(80);
    // prefix ": 100% ▕" bar "▏ " size(6) + 25 blank columns
    let bar = cols.saturating_sub(prefix.chars().count() + 41).max(1);
    template(&format!(
        "{{prefix}}: {{percent:>3}}% ▕{{bar:{bar}}}▏ {{total}}"
    ))
    .progress_chars("█ ")
    .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:>6}", human_bytes(s.len().unwrap_or(0)));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_reads_like_go_durations() {
        let s = |n| format_go_duration(Duration::from_secs(n));
        assert_eq!(s(0), "0s");
        assert_eq!(s(45), "45s");
        assert_eq!(s(90), "1m30s");
        assert_eq!(s(7205), "2h0m5s");
    }
}
