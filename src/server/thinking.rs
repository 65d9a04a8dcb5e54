//! The model's thinking, separated from its answer as Ollama does for Go templates: the tags
//! come from the template (the literal text around `{{ .Thinking }}`, e.g. `<think>` and
//! `</think>`); an answer that opens with the opening tag thinks until the closing one, and what
//! follows is content. Text that might still become a tag is held back until it is clear.

/// The opening and closing tags a template writes around `{{ .Thinking }}`.
pub fn think_tags(template: &str) -> Option<(String, String)> {
    let mut from = 0;
    while let Some(rel) = template[from..].find("{{") {
        let open = from + rel;
        let close = open + template[open..].find("}}")? + 2;
        let action =
            template[open + 2..close - 2].trim_matches(|c: char| c == '-' || c.is_whitespace());
        if action == ".Thinking" {
            let before = &template[..open];
            let before = &before[before.rfind("}}").map(|i| i + 2).unwrap_or(0)..];
            let after = &template[close..];
            let after = &after[..after.find("{{").unwrap_or(after.len())];
            let (b, a) = (before.trim(), after.trim());
            return (!b.is_empty() && !a.is_empty()).then(|| (b.to_string(), a.to_string()));
        }
        from = close;
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Thinking,
    Content,
}

#[derive(Debug)]
pub struct ThinkingParser {
    open: String,
    close: String,
    state: State,
    buf: String,
}

/// How much of the end of `s` could be the start of `tag`.
fn partial_suffix(s: &str, tag: &str) -> usize {
    (1..tag.len().min(s.len() + 1))
        .rev()
        .find(|&n| s.is_char_boundary(s.len() - n) && tag.starts_with(&s[s.len() - n..]))
        .unwrap_or(0)
}

impl ThinkingParser {
    pub fn new((open, close): (String, String)) -> ThinkingParser {
        ThinkingParser {
            open,
            close,
            state: State::Start,
            buf: String::new(),
        }
    }

    /// Feeds generated text; returns (thinking, content) that can be shown now.
    pub fn push(&mut self, text: &str) -> (String, String) {
        self.buf.push_str(text);
        let (mut thinking, mut content) = (String::new(), String::new());
        loop {
            match self.state {
                State::Start => {
                    let t = self.buf.trim_start();
                    if let Some(rest) = t.strip_prefix(self.open.as_str()) {
                        self.buf = rest.trim_start().to_string();
                        self.state = State::Thinking;
                    } else if self.open.starts_with(t) {
                        return (thinking, content);
                    } else {
                        self.state = State::Content;
                    }
                }
                State::Thinking => {
                    if let Some(pos) = self.buf.find(&self.close) {
                        thinking.push_str(&self.buf[..pos]);
                        self.buf = self.buf[pos + self.close.len()..].trim_start().to_string();
                        self.state = State::Content;
                        continue;
                    }
                    let cut = self.buf.len() - partial_suffix(&self.buf, &self.close);
                    thinking.push_str(&self.buf[..cut]);
                    self.buf.drain(..cut);
                    return (thinking, content);
                }
                State::Content => {
                    content.push_str(&std::mem::take(&mut self.buf));
                    return (thinking, content);
                }
            }
        }
    }

    /// The end of the answer: whatever is held back goes where it was heading.
    pub fn finish(&mut self) -> (String, String) {
        let rest = std::mem::take(&mut self.buf);
        match self.state {
            State::Thinking => (rest, String::new()),
            _ => (String::new(), rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&str]) -> (String, String) {
        let mut p = ThinkingParser::new(("<think>".into(), "</think>".into()));
        let (mut th, mut co) = (String::new(), String::new());
        for piece in pieces {
            let (t, c) = p.push(piece);
            th.push_str(&t);
            co.push_str(&c);
        }
        let (t, c) = p.finish();
        (th + &t, co + &c)
    }

    #[test]
    fn tags_come_from_the_template() {
        let t = "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ .Content }}{{ end }}";
        assert_eq!(think_tags(t), Some(("<think>".into(), "</think>".into())));
        assert_eq!(
            think_tags("{{- if .Thinking }}{{ .Thinking }}{{ end }}"),
            None
        );
        assert_eq!(think_tags("{{ .Prompt }}"), None);
    }

    #[test]
    fn thinking_then_content_in_any_pieces() {
        assert_eq!(
            run(&["<th", "ink>Let me", " see.</th", "ink>\n\nIt is 4."]),
            ("Let me see.".into(), "It is 4.".into())
        );
        assert_eq!(run(&["  <think>a</think>b"]), ("a".into(), "b".into()));
    }

    #[test]
    fn no_tag_means_no_thinking() {
        assert_eq!(
            run(&["Just", " an answer."]),
            (String::new(), "Just an answer.".into())
        );
        assert_eq!(
            run(&["<thi"]),
            (String::new(), "<thi".into()),
            "a lone partial tag"
        );
        assert_eq!(
            run(&["<think>never closed"]),
            ("never closed".into(), String::new())
        );
    }
}
