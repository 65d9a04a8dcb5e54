//! How `run` prints an answer as it streams in, as Ollama's `displayResponse` does: word wrap at
//! the terminal width minus five (a word that would cross it is erased with `ESC[nD ESC[K` and
//! moved to the next line), and the model's thinking shown between `Thinking...` and
//! `...done thinking.` (grey on a terminal) unless hidden. Pure: it returns the bytes to write,
//! so every rule is unit-tested.

use unicode_width::UnicodeWidthChar;

const GREY: &str = "\x1b[38;5;245m";
const BOLD: &str = "\x1b[1m";
const DEFAULT: &str = "\x1b[0m";

/// The terminal's width in columns, when stdout is one.
pub fn terminal_width() -> Option<usize> {
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0 as usize)
}

#[derive(Debug, Default)]
pub struct Display {
    /// Wrap at this width (the terminal's); `None`: no wrapping.
    width: Option<usize>,
    hide_thinking: bool,
    /// ANSI colours for the thinking block.
    color: bool,
    line_len: usize,
    word: String,
    thinking_open: bool,
    /// The thinking text so far ended with a newline.
    thinking_nl: bool,
}

impl Display {
    /// `width` is the terminal width when word wrap is on (narrower than 10 columns: off).
    pub fn new(width: Option<usize>, hide_thinking: bool, color: bool) -> Display {
        Display {
            width: width.filter(|w| *w >= 10),
            hide_thinking,
            color,
            ..Display::default()
        }
    }

    /// One streamed piece of thinking and of content.
    pub fn piece(&mut self, thinking: &str, content: &str) -> String {
        let mut out = String::new();
        if !thinking.is_empty() && !self.hide_thinking {
            if !self.thinking_open {
                out.push_str(&self.styled("Thinking...\n", true));
                self.thinking_open = true;
            }
            self.thinking_nl = thinking.ends_with('\n');
            out.push_str(&self.wrap(thinking));
        }
        if self.thinking_open && !content.is_empty() {
            if !self.thinking_nl {
                out.push('\n');
            }
            out.push_str(&self.styled("...done thinking.\n\n", false));
            self.thinking_open = false;
            self.line_len = 0;
            self.word.clear();
        }
        out.push_str(&self.wrap(content));
        out
    }

    fn styled(&self, text: &str, opening: bool) -> String {
        if !self.color {
            return text.to_string();
        }
        let after = if opening {
            format!("{DEFAULT}{GREY}")
        } else {
            DEFAULT.to_string()
        };
        format!("{GREY}{BOLD}{text}{after}")
    }

    fn wrap(&mut self, text: &str) -> String {
        let Some(width) = self.width else {
            return text.to_string();
        };
        let mut out = String::new();
        for ch in text.chars() {
            let w = ch.width().unwrap_or(0);
            if ch == '\n' || ch == '\r' {
                out.push(ch);
                self.line_len = 0;
                self.word.clear();
                continue;
            }
            if self.line_len + 1 > width - 5 {
                if ch == ' ' || ch == '\t' {
                    // A space at the edge just ends the line.
                    out.push('\n');
                    self.line_len = 0;
                    self.word.clear();
                    continue;
                }
                if w > 1 {
                    // Wide characters (CJK) break anywhere.
                    out.push('\n');
                    out.push(ch);
                    self.line_len = w;
                    self.word.clear();
                    continue;
                }
                // Take back the word begun on this line and start the next line with it.
                let back: usize = self.word.chars().map(|c| c.width().unwrap_or(0)).sum();
                if back > 0 {
                    out.push_str(&format!("\x1b[{back}D"));
                }
                out.push_str("\x1b[K\n");
                out.push_str(&self.word);
                out.push(ch);
                self.line_len = back + w;
                self.word.push(ch);
                continue;
            }
            out.push(ch);
            self.line_len += w;
            if w >= 2 {
                self.word.clear();
                continue;
            }
            match ch {
                ' ' | '\t' => self.word.clear(),
                c => self.word.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a terminal shows after `out`: applies `ESC[nD` (left) and `ESC[K` (erase to end).
    fn screen(out: &str) -> Vec<String> {
        let mut lines = vec![Vec::<char>::new()];
        let mut col = 0;
        let mut chars = out.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars.next();
                let mut n = String::new();
                while let Some(d) = chars.next_if(|d| d.is_ascii_digit()) {
                    n.push(d);
                }
                match chars.next() {
                    Some('D') => col -= n.parse::<usize>().unwrap_or(1),
                    Some('K') => lines.last_mut().unwrap_or(&mut Vec::new()).truncate(col),
                    _ => {}
                }
                continue;
            }
            if c == '\n' {
                lines.push(Vec::new());
                col = 0;
                continue;
            }
            if let Some(line) = lines.last_mut() {
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
            }
            col += 1;
        }
        lines.into_iter().map(|l| l.into_iter().collect()).collect()
    }

    #[test]
    fn words_move_whole_to_the_next_line() {
        let mut d = Display::new(Some(20), false, false);
        // Streamed in awkward pieces, as tokens arrive.
        let mut out = String::new();
        for piece in ["The quick br", "own fox jumps o", "ver the lazy dog."] {
            out.push_str(&d.piece("", piece));
        }
        assert_eq!(
            screen(&out),
            ["The quick brown", "fox jumps over ", "the lazy dog."]
        );
        for line in screen(&out) {
            assert!(line.chars().count() <= 15, "{line:?}");
        }
    }

    #[test]
    fn no_wrap_without_a_terminal_or_when_narrow() {
        let text = "a b c d e f g h i j k l m n o p q r s t u v w x y z";
        assert_eq!(Display::new(None, false, false).piece("", text), text);
        assert_eq!(Display::new(Some(9), false, false).piece("", text), text);
    }

    #[test]
    fn newlines_reset_the_line() {
        let mut d = Display::new(Some(15), false, false);
        let out = d.piece("", "0123456789\nabcdefghij");
        assert_eq!(out, "0123456789\nabcdefghij");
    }

    #[test]
    fn thinking_is_framed_or_hidden() {
        let mut d = Display::new(None, false, false);
        let mut out = d.piece("Let me see", "");
        out.push_str(&d.piece(" more.", ""));
        out.push_str(&d.piece("", "Answer."));
        assert_eq!(
            out,
            "Thinking...\nLet me see more.\n...done thinking.\n\nAnswer."
        );
        let mut hidden = Display::new(None, true, false);
        assert_eq!(
            hidden.piece("secret", "") + &hidden.piece("", "Answer."),
            "Answer."
        );
        let mut grey = Display::new(None, false, true);
        let out = grey.piece("x\n", "") + &grey.piece("", "y");
        assert_eq!(
            out,
            "\x1b[38;5;245m\x1b[1mThinking...\n\x1b[0m\x1b[38;5;245mx\n\x1b[38;5;245m\x1b[1m...done thinking.\n\n\x1b[0my"
        );
    }
}
