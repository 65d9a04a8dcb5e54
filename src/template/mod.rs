//! Prompt templates. [`go`] is a Go `text/template` engine for Modelfile TEMPLATEs; this module
//! applies Ollama's rules on top of it (`template/template.go`): which mode a template runs in
//! (suffix, messages, or legacy prompt/response turns), how messages are collated, and the
//! implicit `{{ .Response }}`. [`jinja`] renders GGUF chat templates. A leaf: depends only on
//! `gofmt`.

pub mod go;
pub mod jinja;
mod shape;

use serde_json::{Value, json};

pub use go::Error;

/// A chat message as templates see it.
#[derive(Clone, Debug, Default)]
pub struct Message {
    pub role: String,
    pub content: String,
    pub thinking: String,
    pub images: usize,
    /// `[{"id":..,"function":{"index":0,"name":..,"arguments":{..}}}]`
    pub tool_calls: Vec<Value>,
    pub tool_name: String,
    pub tool_call_id: String,
}

/// What a template renders.
#[derive(Clone, Debug, Default)]
pub struct Values {
    pub messages: Vec<Message>,
    /// API tool objects (`{"type":"function","function":{...}}`).
    pub tools: Vec<Value>,
    pub prompt: String,
    pub suffix: String,
    pub think: Option<bool>,
    pub think_level: String,
    /// Render in legacy (prompt/response) mode even if the template uses `.Messages`.
    pub force_legacy: bool,
}

/// Ollama's template for models that have none.
pub const DEFAULT_TEMPLATE: &str = "{{ .Prompt }}";

/// A Modelfile TEMPLATE with Ollama's semantics.
#[derive(Clone, Debug)]
pub struct Template {
    source: String,
    tmpl: go::Template,
    vars: Vec<String>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, Error> {
        let mut tmpl = go::Template::parse(src)?;
        let mut vars = tmpl.vars();
        if !vars.iter().any(|v| v == "messages" || v == "response") {
            tmpl.append_response();
            vars.push("response".to_string());
            vars.sort();
        }
        Ok(Template {
            source: src.to_string(),
            tmpl,
            vars,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// `{{ .Prompt }}`, what a model without a template gets.
    pub fn default_template() -> Template {
        match Template::parse(DEFAULT_TEMPLATE) {
            Ok(t) => t,
            // The constant is a valid template; this arm only satisfies the types.
            Err(_) => Template {
                source: DEFAULT_TEMPLATE.to_string(),
                tmpl: go::Template::empty(),
                vars: Vec::new(),
            },
        }
    }

    /// Identifiers the template uses, lower-cased.
    pub fn vars(&self) -> &[String] {
        &self.vars
    }

    pub fn render(&self, v: &Values) -> Result<String, Error> {
        let think = v.think.unwrap_or(false);
        let common = |m: &mut serde_json::Map<String, Value>| {
            m.insert("Think".into(), Value::Bool(think));
            m.insert("ThinkLevel".into(), Value::String(v.think_level.clone()));
            m.insert("IsThinkSet".into(), Value::Bool(v.think.is_some()));
        };
        if !v.prompt.is_empty() && !v.suffix.is_empty() {
            let mut m = serde_json::Map::new();
            m.insert("Prompt".into(), json!(v.prompt));
            m.insert("Suffix".into(), json!(v.suffix));
            m.insert("Response".into(), json!(""));
            common(&mut m);
            return self.tmpl.execute(&Value::Object(m));
        }
        let (system, messages) = collate(&v.messages);
        if !v.force_legacy && self.vars.iter().any(|x| x == "messages") {
            let mut m = serde_json::Map::new();
            m.insert("System".into(), json!(system));
            m.insert(
                "Messages".into(),
                Value::Array(messages.iter().map(message_value).collect()),
            );
            // Go's nil `api.Tools` when there are none: `json .Tools` prints `null`.
            let tools = if v.tools.is_empty() {
                Value::Null
            } else {
                Value::Array(v.tools.iter().map(shape::tool).collect())
            };
            m.insert("Tools".into(), tools);
            m.insert("Response".into(), json!(""));
            common(&mut m);
            return self.tmpl.execute(&Value::Object(m));
        }

        // Legacy mode: one execution per completed (system, prompt, response) turn, then the
        // last turn with everything after `.Response` cut so the model continues from there.
        let mut out = String::new();
        let (mut system, mut prompt, mut response) = (String::new(), String::new(), String::new());
        let turn = |system: &str, prompt: &str, response: &str| {
            let mut m = serde_json::Map::new();
            m.insert("System".into(), json!(system));
            m.insert("Prompt".into(), json!(prompt));
            m.insert("Response".into(), json!(response));
            common(&mut m);
            Value::Object(m)
        };
        for msg in &messages {
            let flush = match msg.role.as_str() {
                "system" => !prompt.is_empty() || !response.is_empty(),
                "user" => !response.is_empty(),
                _ => false,
            };
            if flush {
                out.push_str(&self.tmpl.execute(&turn(&system, &prompt, &response))?);
                system.clear();
                prompt.clear();
                response.clear();
            }
            match msg.role.as_str() {
                "system" => system = msg.content.clone(),
                "user" => prompt = msg.content.clone(),
                "assistant" => response = msg.content.clone(),
                _ => {}
            }
        }
        out.push_str(
            &self
                .tmpl
                .cut_after_response()
                .execute(&turn(&system, &prompt, &response))?,
        );
        Ok(out)
    }
}

/// Ollama's `collate`: system messages joined for `.System`, consecutive messages of the same
/// role merged with a blank line (tool results never merged).
fn collate(msgs: &[Message]) -> (String, Vec<Message>) {
    let mut system = Vec::new();
    let mut out: Vec<Message> = Vec::new();
    for m in msgs {
        if m.role == "system" {
            system.push(m.content.clone());
        }
        match out.last_mut() {
            Some(last) if last.role == m.role && m.role != "tool" => {
                last.content.push_str("\n\n");
                last.content.push_str(&m.content);
            }
            _ => out.push(m.clone()),
        }
    }
    (system.join("\n\n"), out)
}

/// A message as template data: `api.Message` as Go marshals it (the engine resolves
/// `.ToolCalls` to `tool_calls`), so `json .Messages` prints what Ollama prints; the
/// `omitempty` fields are left out when empty, and read as zero values by the template.
/// Image bytes never reach a prompt: each image is an empty placeholder, there to be counted.
fn message_value(m: &Message) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("role".into(), json!(m.role));
    o.insert("content".into(), json!(m.content));
    if !m.thinking.is_empty() {
        o.insert("thinking".into(), json!(m.thinking));
    }
    if m.images > 0 {
        o.insert("images".into(), json!(vec![""; m.images]));
    }
    if !m.tool_calls.is_empty() {
        o.insert(
            "tool_calls".into(),
            Value::Array(m.tool_calls.iter().map(shape::tool_call).collect()),
        );
    }
    if !m.tool_name.is_empty() {
        o.insert("tool_name".into(), json!(m.tool_name));
    }
    if !m.tool_call_id.is_empty() {
        o.insert("tool_call_id".into(), json!(m.tool_call_id));
    }
    Value::Object(o)
}

#[cfg(test)]
mod conformance_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msgs(roles: &[(&str, &str)]) -> Vec<Message> {
        roles
            .iter()
            .map(|(r, c)| Message {
                role: r.to_string(),
                content: c.to_string(),
                ..Message::default()
            })
            .collect()
    }

    /// Ollama's llama3-instruct template: a messages branch and a legacy branch.
    const LLAMA3: &str = "{{- if .Messages }}\n{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>\n{{- end }}\n{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ else -}}\n{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>\n{{- end -}}";

    /// Ollama's testdata `llama3-instruct.gotmpl/user-assistant-user`.
    const LLAMA3_UAU: &str = "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";

    fn uau() -> Vec<Message> {
        msgs(&[
            ("user", "Hello, how are you?"),
            ("assistant", "I'm doing great. How can I help you today?"),
            ("user", "I'd like to show off how chat templating works!"),
        ])
    }

    #[test]
    fn messages_and_legacy_modes_agree() {
        let t = Template::parse(LLAMA3).unwrap();
        let mut v = Values {
            messages: uau(),
            ..Values::default()
        };
        assert_eq!(t.render(&v).unwrap(), LLAMA3_UAU);
        v.force_legacy = true;
        assert_eq!(
            t.render(&v).unwrap(),
            LLAMA3_UAU,
            "legacy turns + cut after .Response"
        );
    }

    #[test]
    fn legacy_template_gets_response_appended_and_system_turns() {
        let t =
            Template::parse("{{ if .System }}S:{{ .System }} {{ end }}U:{{ .Prompt }} A:").unwrap();
        assert!(t.vars().iter().any(|v| v == "response"));
        let v = Values {
            messages: msgs(&[
                ("system", "sys"),
                ("user", "q1"),
                ("assistant", "a1"),
                ("user", "q2"),
            ]),
            ..Values::default()
        };
        assert_eq!(t.render(&v).unwrap(), "S:sys U:q1 A:a1U:q2 A:");
    }

    #[test]
    fn default_template_and_suffix_mode() {
        let t = Template::parse("{{ .Prompt }}").unwrap();
        let v = Values {
            messages: msgs(&[("user", "just this")]),
            ..Values::default()
        };
        assert_eq!(t.render(&v).unwrap(), "just this");
        let t = Template::parse("<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>").unwrap();
        let v = Values {
            prompt: "def f(".into(),
            suffix: "return x".into(),
            ..Values::default()
        };
        assert_eq!(t.render(&v).unwrap(), "<PRE> def f( <SUF>return x <MID>");
    }

    #[test]
    fn collate_merges_same_roles_but_not_tools() {
        let (system, out) = collate(&msgs(&[
            ("system", "a"),
            ("system", "b"),
            ("user", "1"),
            ("user", "2"),
            ("tool", "x"),
            ("tool", "y"),
        ]));
        assert_eq!(system, "a\n\nb");
        let contents: Vec<&str> = out.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["a\n\nb", "1\n\n2", "x", "y"]);
    }

    #[test]
    fn tools_print_as_json_and_fields_resolve() {
        let t = Template::parse("{{ range .Messages }}{{ .Content }}{{ end }}{{ range .Tools }}[{{ .Function.Name }}]{{ end }}{{ .Tools }}").unwrap();
        let v = Values {
            messages: msgs(&[("user", "q")]),
            tools: vec![
                json!({"type": "function", "function": {"name": "get_weather", "description": "<w>"}}),
            ],
            ..Values::default()
        };
        assert_eq!(
            t.render(&v).unwrap(),
            "q[get_weather][{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"\\u003cw\\u003e\",\"parameters\":{\"type\":\"\",\"properties\":null}}}]"
        );
    }
}
