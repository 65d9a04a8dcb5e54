//! Turning a stream of token bytes into the text a client may see: reassembling UTF-8 characters
//! that byte-fallback tokens split, and holding back text that might be the start of a stop
//! string so a partial stop string is never streamed. Pure functions; no llama.cpp here.

/// Bytes of an incomplete UTF-8 character carried over to the next token.
#[derive(Debug, Default)]
pub struct Utf8Buffer {
    pending: Vec<u8>,
}

impl Utf8Buffer {
    /// Appends `bytes` and returns the longest complete UTF-8 prefix. Invalid sequences (not
    /// merely incomplete ones) become U+FFFD so the stream can never wedge.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix was just validated, so this cannot fail.
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end of generation, lossily.
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

/// Result of feeding text to a [`StopMatcher`].
#[derive(Debug, PartialEq, Eq)]
pub struct Matched {
    /// Text that is safe to emit now.
    pub emit: String,
    /// A stop string was found; everything from it on is dropped.
    pub stopped: bool,
}

/// Finds stop strings across token boundaries.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> StopMatcher {
        StopMatcher {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> Matched {
        self.held.push_str(text);
        if self.stops.is_empty() {
            return Matched {
                emit: std::mem::take(&mut self.held),
                stopped: false,
            };
        }
        // The earliest complete stop string wins.
        let first = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first {
            let emit = self.held[..at].to_string();
            self.held.clear();
            return Matched {
                emit,
                stopped: true,
            };
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .map(|s| longest_suffix_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let split = self.held.len() - keep;
        let emit = self.held[..split].to_string();
        self.held.drain(..split);
        Matched {
            emit,
            stopped: false,
        }
    }

    /// Text still held back when generation ends for another reason.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length in bytes of the longest suffix of `text` that is a proper prefix of `stop`, cut at
/// character boundaries.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = text.len().min(stop.len().saturating_sub(1));
    (1..=max)
        .rev()
        .find(|&n| {
            let start = text.len() - n;
            text.is_char_boundary(start) && stop.starts_with(&text[start..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_tokens() {
        let text = "日本語🦀𝔘";
        let mut buf = Utf8Buffer::default();
        let mut out = String::new();
        for b in text.as_bytes() {
            out.push_str(&buf.push(&[*b]));
        }
        out.push_str(&buf.finish());
        assert_eq!(out, text);
    }

    #[test]
    fn utf8_invalid_does_not_wedge() {
        let mut buf = Utf8Buffer::default();
        assert_eq!(buf.push(&[0xff, b'a']), "\u{FFFD}a");
        assert_eq!(buf.push(&[0xe6]), "");
        assert_eq!(buf.finish(), "\u{FFFD}");
    }

    #[test]
    fn stop_across_pieces_is_never_emitted() {
        let mut m = StopMatcher::new(vec!["<end>".into()]);
        let mut out = String::new();
        let mut stopped = false;
        for piece in ["Hello", " wor", "ld<e", "nd", "> more"] {
            let r = m.push(piece);
            out.push_str(&r.emit);
            if r.stopped {
                stopped = true;
                break;
            }
        }
        assert!(stopped);
        assert_eq!(out, "Hello world");
    }

    #[test]
    fn false_prefix_is_released() {
        let mut m = StopMatcher::new(vec!["STOP".into()]);
        assert_eq!(m.push("aST").emit, "a");
        assert_eq!(m.push("x").emit, "STx");
        assert_eq!(m.push("S").emit, "");
        assert_eq!(m.flush(), "S");
    }

    #[test]
    fn earliest_of_several_stops() {
        let mut m = StopMatcher::new(vec!["b".into(), "a".into()]);
        let r = m.push("xxaxb");
        assert_eq!(
            r,
            Matched {
                emit: "xx".into(),
                stopped: true
            }
        );
    }

    #[test]
    fn multibyte_stop_prefix() {
        let mut m = StopMatcher::new(vec!["日本".into()]);
        assert_eq!(m.push("x日").emit, "x");
        assert_eq!(
            m.push("本y"),
            Matched {
                emit: String::new(),
                stopped: true
            }
        );
    }
}
