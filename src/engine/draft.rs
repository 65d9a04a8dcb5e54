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

#[cfg(test)]
mod tests {
    use super::*;

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
