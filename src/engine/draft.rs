//! Prompt-lookup drafting: speculative decoding without a draft model. When the last few tokens
//! of a sequence occurred before in it (the prompt or what it generated), the tokens that
//! followed them then are a cheap guess at what comes next. The slot loop evaluates the guess in
//! the same batch as the sequence's next token and keeps the longest prefix the sampler itself
//! would have produced, so the output is the one sampling token by token gives; a good guess
//! yields several tokens for one pass over the weights (edits, code, quoting the input).

/// The longest and shortest suffix looked up: longer matches predict better, shorter ones
/// match more often.
const MAX_NGRAM: usize = 4;
const MIN_NGRAM: usize = 2;
/// How far back a lookup searches: the cost per step stays bounded on long contexts.
const WINDOW: usize = 8192;

/// Up to `max` tokens that followed the most recent earlier occurrence of `history`'s last
/// n-gram (longest n first); empty when none occurred.
pub fn lookup<T: PartialEq + Copy>(history: &[T], max: usize) -> Vec<T> {
    if max == 0 {
        return Vec::new();
    }
    let base = history.len().saturating_sub(WINDOW);
    let hist = &history[base..];
    let len = hist.len();
    for n in (MIN_NGRAM..=MAX_NGRAM).rev() {
        if len <= n {
            continue;
        }
        let tail = &hist[len - n..];
        // Most recent first: the closest repetition is the best guess.
        let found = (0..len - n).rev().find(|&i| hist[i..i + n] == *tail);
        if let Some(i) = found {
            let from = i + n;
            let to = (from + max).min(len);
            return hist[from..to].to_vec();
        }
    }
    Vec::new()
}

/// What one draft row costs next to one step's fixed cost (reading the weights once), measured
/// on the 2-core development machine with Gemma 3 270M: a step took about 22 ms for one
/// sequence and 6 ms more for each further row, mostly the 262k-wide output layer.
const ROW_COST: f32 = 0.27;
/// How much the acceptance estimate remembers of the previous step.
const DECAY: f32 = 0.8;
/// Steps between one-token probes when drafting does not pay (so the estimate can recover).
const PROBE_EVERY: u32 = 16;

/// One sequence's running estimate of how often a draft token is confirmed, and the draft
/// length worth verifying given it. A draft token is worth its row while the chance that it
/// and every token before it are confirmed exceeds what a row costs against the tokens a step
/// already yields: alone in the batch a row costs a quarter of a step, beside seven other
/// sequences each of which already gets a token from the step, a row must be confirmed two
/// times in three to pay.
#[derive(Clone, Debug, Default)]
pub struct Acceptance {
    hits: f32,
    trials: f32,
    idle: u32,
}

impl Acceptance {
    /// Confirmation probability per draft token (Laplace's rule on the decayed counts).
    fn p(&self) -> f32 {
        (self.hits + 1.0) / (self.trials + 2.0)
    }

    /// Draft tokens worth verifying this step when `batch` sequences generate, at most `max`.
    pub fn length(&mut self, batch: usize, max: usize) -> usize {
        let c = ROW_COST * batch.max(1) as f32;
        let threshold = c / (1.0 + c);
        let p = self.p();
        let k = if p > threshold {
            (threshold.ln() / p.ln()).floor() as usize
        } else {
            0
        };
        if k > 0 {
            self.idle = 0;
            return k.min(max);
        }
        self.idle += 1;
        if self.idle >= PROBE_EVERY {
            self.idle = 0;
            return max.min(1);
        }
        0
    }

    /// Records a verified draft: `kept` of its `drafted` tokens confirmed.
    pub fn record(&mut self, drafted: usize, kept: usize) {
        if drafted == 0 {
            return;
        }
        let trials = kept + usize::from(kept < drafted);
        self.hits = self.hits * DECAY + kept as f32;
        self.trials = self.trials * DECAY + trials as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_lengthen_with_confirmations_and_shorten_with_company() {
        let mut a = Acceptance::default();
        // No history: a short draft alone, none beside seven others (a probe now and then).
        assert_eq!(a.length(1, 16), 2);
        assert_eq!(a.length(8, 16), 0);
        for _ in 0..20 {
            a.record(8, 8);
        }
        let alone = a.length(1, 64);
        let crowded = a.length(8, 64);
        assert!(alone > crowded && crowded > 0, "{alone} {crowded}");
        assert_eq!(a.length(1, 16), 16, "capped by draft_num_predict");
        // Guesses that keep failing stop drafting, then probe one token now and then.
        for _ in 0..20 {
            a.record(4, 0);
        }
        assert_eq!(a.length(1, 16), 0);
        let probes = (0..64).filter(|_| a.length(1, 16) == 1).count();
        assert_eq!(probes, 4);
    }

    #[test]
    fn continues_the_most_recent_repetition() {
        // "a b c d" then "x a b c" -> the guess after "a b c" is "d x a b c"...
        let h = [1, 2, 3, 4, 9, 1, 2, 3];
        assert_eq!(lookup(&h, 3), vec![4, 9, 1]);
        assert_eq!(lookup(&h, 100), vec![4, 9, 1, 2, 3]);
        // Two earlier occurrences: the later one wins.
        let h = [5, 6, 7, 5, 6, 8, 5, 6];
        assert_eq!(lookup(&h, 2), vec![8, 5]);
    }

    #[test]
    fn longer_matches_win_over_shorter() {
        // "2 3" is followed by 7 the last time, but "1 2 3" by 4.
        let h = [1, 2, 3, 4, 0, 2, 3, 7, 1, 2, 3];
        assert_eq!(lookup(&h, 1), vec![4]);
    }

    #[test]
    fn nothing_to_guess() {
        assert!(lookup(&[1, 2, 3, 4], 8).is_empty(), "no n-gram repeats");
        assert!(lookup(&[1, 1, 1], 0).is_empty(), "drafting off");
        assert!(lookup::<i32>(&[], 8).is_empty());
        // A single repeated token is too short a match.
        assert!(lookup(&[1, 5, 2, 5], 8).is_empty());
    }
}
