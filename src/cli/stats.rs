//! The `--verbose` timing block printed after an answer (stderr), in Ollama's layout: each line
//! only when its value is non-zero, durations as Go prints them.

use std::time::Duration;

use crate::api::types::Metrics;
use crate::duration::format_go_duration;

pub fn summary(m: &Metrics) -> String {
    let d = |ns: u64| format_go_duration(Duration::from_nanos(ns));
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("{:<22}{value}\n", format!("{label}:")));
    };
    if m.total_duration > 0 {
        line("total duration", d(m.total_duration));
    }
    if m.load_duration > 0 {
        line("load duration", d(m.load_duration));
    }
    if m.prompt_eval_count > 0 {
        line(
            "prompt eval count",
            format!("{} token(s)", m.prompt_eval_count),
        );
    }
    if m.prompt_eval_duration > 0 {
        line("prompt eval duration", d(m.prompt_eval_duration));
        let rate = m.prompt_eval_count as f64 / (m.prompt_eval_duration as f64 / 1e9);
        line("prompt eval rate", format!("{rate:.2} tokens/s"));
    }
    if m.eval_count > 0 {
        line("eval count", format!("{} token(s)", m.eval_count));
    }
    if m.eval_duration > 0 {
        line("eval duration", d(m.eval_duration));
        let rate = m.eval_count as f64 / (m.eval_duration as f64 / 1e9);
        line("eval rate", format!("{rate:.2} tokens/s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let m = Metrics {
            total_duration: 1_230_000_000,
            load_duration: 12_000_000,
            prompt_eval_count: 26,
            prompt_eval_duration: 130_000_000,
            eval_count: 259,
            eval_duration: 4_200_000_000,
        };
        assert_eq!(
            summary(&m),
            "total duration:       1.23s\nload duration:        12ms\nprompt eval count:    26 token(s)\nprompt eval duration: 130ms\nprompt eval rate:     200.00 tokens/s\neval count:           259 token(s)\neval duration:        4.2s\neval rate:            61.67 tokens/s\n"
        );
    }
}
