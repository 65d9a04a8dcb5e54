//! Tool calls in a model's output, found as Ollama finds them for Go templates: after the tag the
//! template writes before its calls (the text right after `{{ if .ToolCalls }}`, such as
//! `<tool_call>`), or as bare JSON at the very start of the answer. The JSON (one object or an
//! array) holds `name` and `arguments` (or `parameters`); a call to a tool the request did not
//! offer is not a call. Text before the first call stays content; text that only might start the
//! tag is held back until it is clear. As in Ollama's parser, nothing after a parsed call is
//! content (a closing tag cut by `num_predict`, prose the model adds): only further calls count.

use serde_json::{Value, json};

/// Beyond Ollama, which ignores a client's tool choice: the JSON schema that makes the answer a
/// call to one of `offered` (native tools, `{"function": {"name", "parameters"}}`), or to the
/// one named `wanted`. One branch per callable tool, its name and arguments that follow its own
/// parameter schema (any object when it has none), as llama-server constrains them.
pub fn forced_call(offered: &[Value], wanted: Option<&str>) -> Option<Value> {
    let branches: Vec<Value> = offered
        .iter()
        .filter_map(|t| {
            let name = t.pointer("/function/name").and_then(Value::as_str)?;
            if wanted.is_some_and(|w| w != name) {
                return None;
            }
            let params = t
                .pointer("/function/parameters")
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            Some(json!({
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": params},
                "required": ["name", "arguments"],
            }))
        })
        .collect();
    match branches.len() {
        0 => wanted.map(|w| {
            json!({"type": "object",
                   "properties": {"name": {"const": w}, "arguments": {"type": "object"}},
                   "required": ["name", "arguments"]})
        }),
        1 => branches.into_iter().next(),
        _ => Some(json!({"anyOf": branches})),
    }
}

/// The text a Go template writes before its tool calls: what follows `if .ToolCalls }}` up to
/// the next action, trimmed (`<tool_call>`, `[TOOL_CALLS]`).
pub fn call_tag(template: &str) -> Option<String> {
    let at = template.find(".ToolCalls")?;
    let before = &template[..at];
    let open = before.rfind("{{")?;
    if !before[open..].contains("if") {
        return None;
    }
    let rest = &template[at..];
    let close = rest.find("}}")? + 2;
    let after = &rest[close..];
    let tag = after[..after.find("{{").unwrap_or(after.len())].trim();
    (!tag.is_empty()).then(|| tag.to_string())
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum State {
    /// Nothing but whitespace seen yet: bare JSON may still start.
    Start,
    Content,
    /// Inside a call's JSON; `tagged` when a tag opened it.
    Collecting {
        tagged: bool,
    },
}

#[derive(Debug)]
pub struct ToolParser {
    tag: Option<String>,
    names: Vec<String>,
    buf: String,
    state: State,
    calls: usize,
}

impl ToolParser {
    pub fn new(tag: Option<String>, names: Vec<String>) -> ToolParser {
        ToolParser {
            tag,
            names,
            buf: String::new(),
            state: State::Start,
            calls: 0,
        }
    }

    /// The names of the tools a request offers (`tools[].function.name`).
    pub fn tool_names(tools: &[Value]) -> Vec<String> {
        tools
            .iter()
            .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
            .map(String::from)
            .collect()
    }

    /// Feeds generated text; returns the content that can be shown and the calls completed.
    pub fn push(&mut self, text: &str) -> (String, Vec<Value>) {
        self.buf.push_str(text);
        let mut content = String::new();
        let mut calls = Vec::new();
        loop {
            match self.state {
                State::Start => {
                    let trimmed = self.buf.trim_start();
                    if trimmed.is_empty() {
                        return (content, calls);
                    }
                    if trimmed.starts_with('{') || trimmed.starts_with('[') {
                        self.buf = trimmed.to_string();
                        self.state = State::Collecting { tagged: false };
                    } else {
                        self.state = State::Content;
                    }
                }
                State::Content => {
                    // After a call, text is looked at only for the next call's tag.
                    let shown = if self.calls == 0 {
                        &mut content
                    } else {
                        &mut String::new()
                    };
                    let Some(tag) = self.tag.clone() else {
                        shown.push_str(&std::mem::take(&mut self.buf));
                        return (content, calls);
                    };
                    if let Some(pos) = self.buf.find(&tag) {
                        shown.push_str(&self.buf[..pos]);
                        self.buf = self.buf[pos + tag.len()..].to_string();
                        self.state = State::Collecting { tagged: true };
                        continue;
                    }
                    // Hold back an ending that could be the start of the tag.
                    let keep = (1..tag.len().min(self.buf.len() + 1))
                        .rev()
                        .find(|&n| {
                            self.buf.is_char_boundary(self.buf.len() - n)
                                && tag.starts_with(&self.buf[self.buf.len() - n..])
                        })
                        .unwrap_or(0);
                    let cut = self.buf.len() - keep;
                    shown.push_str(&self.buf[..cut]);
                    self.buf.drain(..cut);
                    return (content, calls);
                }
                State::Collecting { tagged } => {
                    let start = self.buf.len() - self.buf.trim_start().len();
                    let mut it =
                        serde_json::Deserializer::from_str(&self.buf[start..]).into_iter::<Value>();
                    match it.next() {
                        None => return (content, calls),
                        Some(Err(e)) if e.is_eof() => return (content, calls),
                        Some(Err(_)) => {
                            content.push_str(&self.give_back(tagged));
                            self.state = State::Content;
                        }
                        Some(Ok(v)) => {
                            let end = start + it.byte_offset();
                            match self.calls_from(&v) {
                                Some(found) => {
                                    calls.extend(found);
                                    let mut rest = self.buf[end..].to_string();
                                    if let Some(close) = self.closing_tag() {
                                        let t = rest.trim_start();
                                        if let Some(after) = t.strip_prefix(&close) {
                                            rest = after.to_string();
                                        }
                                    }
                                    self.buf = rest;
                                }
                                None => {
                                    let raw: String = self.buf.drain(..end).collect();
                                    if tagged && let Some(tag) = &self.tag {
                                        content.push_str(tag);
                                    }
                                    content.push_str(&raw);
                                }
                            }
                            self.state = State::Content;
                        }
                    }
                }
            }
        }
    }

    /// The end of the answer: whatever is held back is content after all.
    pub fn finish(&mut self) -> String {
        if self.calls > 0 {
            self.buf.clear();
            return String::new();
        }
        match self.state {
            State::Collecting { tagged } => self.give_back(tagged),
            _ => std::mem::take(&mut self.buf),
        }
    }

    fn give_back(&mut self, tagged: bool) -> String {
        let mut s = String::new();
        if tagged && let Some(tag) = &self.tag {
            s.push_str(tag);
        }
        s.push_str(&std::mem::take(&mut self.buf));
        s
    }

    /// `</tool_call>` for `<tool_call>`.
    fn closing_tag(&self) -> Option<String> {
        let tag = self.tag.as_ref()?;
        tag.strip_prefix('<').map(|t| format!("</{t}"))
    }

    fn calls_from(&mut self, v: &Value) -> Option<Vec<Value>> {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![v],
            _ => return None,
        };
        let mut out = Vec::new();
        for item in items {
            let name = item.get("name").and_then(Value::as_str)?;
            if !self.names.iter().any(|n| n == name) {
                return None;
            }
            let args = item
                .get("arguments")
                .or_else(|| item.get("parameters"))
                .cloned()
                .unwrap_or(json!({}));
            out.push(json!({
                "id": format!("call_{}", random_id()),
                "function": {"index": self.calls, "name": name, "arguments": args},
            }));
            self.calls += 1;
        }
        (!out.is_empty()).then_some(out)
    }
}

fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &mut ToolParser, pieces: &[&str]) -> (String, Vec<Value>) {
        let mut content = String::new();
        let mut calls = Vec::new();
        for piece in pieces {
            let (c, k) = p.push(piece);
            content.push_str(&c);
            calls.extend(k);
        }
        content.push_str(&p.finish());
        (content, calls)
    }

    fn names() -> Vec<String> {
        vec!["get_weather".into(), "add".into()]
    }

    #[test]
    fn the_tag_comes_from_the_template() {
        let qwen = "{{- if .ToolCalls }}<tool_call>\n{{ range .ToolCalls }}{\"name\": \"{{ .Function.Name }}\"}{{ end }}</tool_call>{{ end }}";
        assert_eq!(call_tag(qwen).as_deref(), Some("<tool_call>"));
        let mistral = "{{ if .ToolCalls }}[TOOL_CALLS] [{{ range .ToolCalls }}{{ end }}]{{ end }}";
        assert_eq!(call_tag(mistral).as_deref(), Some("[TOOL_CALLS] ["));
        assert_eq!(call_tag("{{ .Prompt }}"), None);
        assert_eq!(call_tag("{{ range .ToolCalls }}x{{ end }}"), None);
    }

    #[test]
    fn a_tagged_call_streamed_in_pieces() {
        let mut p = ToolParser::new(Some("<tool_call>".into()), names());
        let (content, calls) = run(
            &mut p,
            &[
                "Let me check. <tool",
                "_call>\n{\"name\": \"get_wea",
                "ther\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
                " Done.",
            ],
        );
        assert_eq!(content, "Let me check. ", "nothing after a call is content");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["function"]["name"], "get_weather");
        assert_eq!(calls[0]["function"]["arguments"], json!({"city": "Paris"}));
        assert_eq!(calls[0]["function"]["index"], 0);
        assert!(
            calls[0]["id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("call_")
        );
    }

    #[test]
    fn text_after_a_call_never_leaks_into_content() {
        // num_predict cut the closing tag; the model wrote on after a call; a second call.
        let call = "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1}}\n";
        for tail in [
            "</tool_",
            "</tool_call>\nThe answer is 2.",
            "</tool_call> {\"x\": 1",
        ] {
            let mut p = ToolParser::new(Some("<tool_call>".into()), names());
            let (content, calls) = run(&mut p, &["Sure.", call, tail]);
            assert_eq!(content, "Sure.", "tail {tail:?}");
            assert_eq!(calls.len(), 1);
        }
        let mut p = ToolParser::new(Some("<tool_call>".into()), names());
        let (content, calls) = run(&mut p, &[call, "</tool_call>\n", call, "</tool_call> ok"]);
        assert_eq!(content, "");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1]["function"]["index"], 1);
    }

    #[test]
    fn bare_json_at_the_start_and_arrays() {
        let mut p = ToolParser::new(None, names());
        let (content, calls) = run(
            &mut p,
            &[
                "  [{\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}},",
                " {\"name\": \"get_weather\", \"arguments\": {}}]",
            ],
        );
        assert_eq!(content, "");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0]["function"]["arguments"], json!({"a": 1, "b": 2}));
        assert_eq!(calls[1]["function"]["index"], 1);
    }

    #[test]
    fn what_is_not_a_call_stays_content() {
        // Unknown tool, plain prose with braces later, a tag never closed.
        let mut p = ToolParser::new(None, names());
        let (content, calls) = run(&mut p, &["{\"name\": \"launch\", \"arguments\": {}} ok"]);
        assert_eq!(content, "{\"name\": \"launch\", \"arguments\": {}} ok");
        assert!(calls.is_empty());
        let mut p = ToolParser::new(None, names());
        let (content, calls) = run(&mut p, &["Use {\"name\": \"add\"} like this."]);
        assert_eq!(content, "Use {\"name\": \"add\"} like this.");
        assert!(calls.is_empty());
        let mut p = ToolParser::new(Some("<tool_call>".into()), names());
        let (content, calls) = run(&mut p, &["a <tool_call>{\"name\": \"add\", "]);
        assert_eq!(content, "a <tool_call>{\"name\": \"add\", ");
        assert!(calls.is_empty());
        let mut p = ToolParser::new(Some("<tool_call>".into()), names());
        let (content, _) = run(&mut p, &["x < y <tool"]);
        assert_eq!(
            content, "x < y <tool",
            "a partial tag at the end is content"
        );
    }
}
