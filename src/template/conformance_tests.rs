//! Ollama's own template tests (`template/template_test.go` and `template/testdata/`) and
//! further cases for tools, thinking and collation, rendered through [`Template::render`].
//!
//! The tool and message cases pin down Go-level fidelity of template data: `api.Tool`,
//! `api.ToolCall` and `api.Message` marshalled in struct order with `omitempty`, properties and
//! arguments in the order the client sent them (Ollama's ordered maps), arguments decoded as
//! float64.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::{DEFAULT_TEMPLATE, Message, Template, Values, collate};

// Real templates from ollama/ollama `template/*.gotmpl` (the versions matching testdata).
const GEMMA3_INSTRUCT: &str = "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 }}\n{{- if eq .Role \"user\" }}<start_of_turn>user\n{{- if and (eq $i 1) $.System }}\n{{ $.System }}\n{{ end }}\n{{ .Content }}<end_of_turn>\n{{ else if eq .Role \"assistant\" }}<start_of_turn>model\n{{ .Content }}<end_of_turn>\n{{ end }}\n{{- if $last }}<start_of_turn>model\n{{ end }}\n{{- end }}\n";
const LLAMA3_INSTRUCT: &str = "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n";
const CHATML: &str = "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n";
const MISTRAL_INSTRUCT: &str = "[INST] {{ range $index, $_ := .Messages }}\n{{- if eq .Role \"system\" }}{{ .Content }}\n\n{{ else if eq .Role \"user\" }}{{ .Content }}[/INST]\n{{- else if eq .Role \"assistant\" }} {{ .Content }}</s>[INST] {{ end }}\n{{- end }}";
// Older versions with a legacy (System/Prompt/Response) branch.
const LLAMA3_INSTRUCT_OLD: &str = "{{- if .Messages }}\n{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>\n{{- end }}\n{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ else -}}\n{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>\n{{- end -}}";
const CHATML_OLD: &str = "{{- if .Messages }}\n{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}\n{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ else }}\n{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n{{- end }}";
const MISTRAL_INSTRUCT_NEW: &str = "{{- if .Messages }}\n{{- range $index, $_ := .Messages }}\n{{- if eq .Role \"user\" }}[INST] {{ if and $.System (eq (len (slice $.Messages $index)) 1) }}{{ $.System }}\n{{ end }}{{ .Content }}\n{{- else if eq .Role \"assistant\" }}[/INST] {{ .Content }}</s>\n{{- end }}\n{{- end }}[/INST]\n{{- else -}}\n[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}[/INST] {{ .Response }}</s>\n{{- end -}}";

fn msg(role: &str, content: &str) -> Message {
    Message {
        role: role.into(),
        content: content.into(),
        ..Default::default()
    }
}

/// Ollama's three TestTemplate conversations, by name.
fn conversation(name: &str) -> Vec<Message> {
    let hello = msg("user", "Hello, how are you?");
    let great = msg("assistant", "I'm doing great. How can I help you today?");
    let show = msg("user", "I'd like to show off how chat templating works!");
    match name {
        "user" => vec![hello],
        "user-assistant-user" => vec![hello, great, show],
        _ => vec![
            msg("system", "You are a helpful assistant."),
            hello,
            great,
            show,
        ],
    }
}

fn render(src: &str, messages: Vec<Message>) -> String {
    let values = Values {
        messages,
        ..Default::default()
    };
    Template::parse(src).unwrap().render(&values).unwrap()
}

fn render_legacy(src: &str, messages: Vec<Message>) -> String {
    let values = Values {
        messages,
        force_legacy: true,
        ..Default::default()
    };
    Template::parse(src).unwrap().render(&values).unwrap()
}

#[test]
fn gemma3_instruct_testdata() {
    let g = |n| render(GEMMA3_INSTRUCT, conversation(n));
    assert_eq!(
        g("user"),
        "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\n\n"
    );
    assert_eq!(
        g("user-assistant-user"),
        "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n\n"
    );
    assert_eq!(
        g("system-user-assistant-user"),
        "<start_of_turn>user\nYou are a helpful assistant.\n\nHello, how are you?<end_of_turn>\n<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n\n"
    );
}

#[test]
fn llama3_instruct_testdata() {
    let l = |n| render(LLAMA3_INSTRUCT, conversation(n));
    assert_eq!(
        l("user"),
        "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(
        l("user-assistant-user"),
        "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(
        l("system-user-assistant-user"),
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}

#[test]
fn chatml_testdata() {
    let c = |n| render(CHATML, conversation(n));
    assert_eq!(
        c("user"),
        "<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        c("user-assistant-user"),
        "<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        c("system-user-assistant-user"),
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn mistral_instruct_testdata() {
    let m = |n| render(MISTRAL_INSTRUCT, conversation(n));
    assert_eq!(m("user"), "[INST] Hello, how are you?[/INST]");
    assert_eq!(
        m("user-assistant-user"),
        "[INST] Hello, how are you?[/INST] I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works![/INST]"
    );
    assert_eq!(
        m("system-user-assistant-user"),
        "[INST] You are a helpful assistant.\n\nHello, how are you?[/INST] I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works![/INST]"
    );
}

#[test]
fn newer_mistral_puts_system_on_last_user_turn() {
    assert_eq!(
        render(
            MISTRAL_INSTRUCT_NEW,
            conversation("system-user-assistant-user")
        ),
        "[INST] Hello, how are you?[/INST] I'm doing great. How can I help you today?</s>[INST] You are a helpful assistant.\nI'd like to show off how chat templating works![/INST]"
    );
    // Legacy rendering of the same template: one [INST] block per turn.
    assert_eq!(
        render_legacy(
            MISTRAL_INSTRUCT_NEW,
            conversation("system-user-assistant-user")
        ),
        "[INST] You are a helpful assistant. Hello, how are you?[/INST] I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works![/INST] "
    );
}

#[test]
fn legacy_mode_matches_messages_testdata() {
    // Ollama: "legacy outputs are currently default outputs" for llama3-instruct.
    for name in ["user", "user-assistant-user", "system-user-assistant-user"] {
        assert_eq!(
            render_legacy(LLAMA3_INSTRUCT_OLD, conversation(name)),
            render(LLAMA3_INSTRUCT, conversation(name)),
            "{name}"
        );
    }
    // The old chatml `{{ else }}` keeps the newline that follows it.
    assert_eq!(
        render_legacy(CHATML_OLD, conversation("system-user-assistant-user")),
        "\n<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n"
    );
    // In messages mode collate keeps system messages in .Messages, so this old template
    // prints the system prompt twice, as Ollama does.
    let out = render(CHATML_OLD, conversation("system-user-assistant-user"));
    assert_eq!(out.matches("You are a helpful assistant.").count(), 2);
}

/// TestExecuteWithMessages: every template variant renders the same conversation alike.
#[test]
fn execute_with_messages() {
    let mistral_system = "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}";
    let mistral_no_response = format!("{mistral_system}{{{{ .Prompt }}}}[/INST] ");
    let mistral_response = format!("{mistral_system}{{{{ .Prompt }}}}[/INST] {{{{ .Response }}}}");
    let mistral_messages = format!(
        "{mistral_system}\n{{{{- range .Messages }}}}\n{{{{- if eq .Role \"user\" }}}}{{{{ .Content }}}}[/INST] {{{{ else if eq .Role \"assistant\" }}}}{{{{ .Content }}}}[INST] {{{{ end }}}}\n{{{{- end }}}}"
    );
    let hello = vec![
        msg("user", "Hello friend!"),
        msg("assistant", "Hello human!"),
        msg("user", "What is your name?"),
    ];
    let mut with_system = vec![msg("system", "You are a helpful assistant!")];
    with_system.extend(hello.clone());
    let mut continuing = hello.clone();
    continuing.push(msg("assistant", "My name is Ollama and I"));

    let cases: Vec<(Vec<String>, Vec<Message>, &str)> = vec![
        (
            vec![mistral_no_response.clone(), mistral_response.clone(), mistral_messages.clone()],
            hello.clone(),
            "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] ",
        ),
        (
            vec![mistral_no_response, mistral_response, mistral_messages],
            with_system.clone(),
            "[INST] You are a helpful assistant!\n\nHello friend![/INST] Hello human![INST] What is your name?[/INST] ",
        ),
        (
            vec![
                "[INST] {{ .Prompt }}[/INST] ".into(),
                "[INST] {{ .Prompt }}[/INST] {{ .Response }}".into(),
                "\n{{- range $i, $m := .Messages }}\n{{- if eq .Role \"user\" }}[INST] {{ .Content }}[/INST] {{ else if eq .Role \"assistant\" }}{{ .Content }}{{ end }}\n{{- end }}".into(),
            ],
            continuing,
            "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] My name is Ollama and I",
        ),
        (
            vec![
                "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n".into(),
                "\n{{- range $index, $_ := .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n".into(),
            ],
            with_system,
            "<|im_start|>system\nYou are a helpful assistant!<|im_end|>\n<|im_start|>user\nHello friend!<|im_end|>\n<|im_start|>assistant\nHello human!<|im_end|>\n<|im_start|>user\nWhat is your name?<|im_end|>\n<|im_start|>assistant\n",
        ),
    ];
    for (templates, messages, want) in cases {
        for t in templates {
            assert_eq!(render(&t, messages.clone()), want, "template {t:?}");
        }
    }
}

/// TestExecuteWithSuffix and TestParseExecute.
#[test]
fn suffix_mode_and_undefined_functions() {
    let t = Template::parse("{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n{{- else }}{{ .Prompt }}\n{{- end }}").unwrap();
    let chat = Values {
        messages: vec![msg("user", "hello")],
        ..Default::default()
    };
    assert_eq!(t.render(&chat).unwrap(), "hello");
    let fim = Values {
        prompt: "def add(".into(),
        suffix: "return x".into(),
        ..Default::default()
    };
    assert_eq!(
        t.render(&fim).unwrap(),
        "<PRE> def add( <SUF>return x <MID>"
    );

    let t = Template::parse(
        "{{- if .Suffix }}{{ .Prompt }} {{ .Suffix }}{{- else }}{{ undefined }}{{- end }}",
    )
    .unwrap();
    let fim = Values {
        prompt: "def add(".into(),
        suffix: "    return c".into(),
        ..Default::default()
    };
    assert_eq!(t.render(&fim).unwrap(), "def add(     return c");
    let err = t.render(&Values::default()).unwrap_err().to_string();
    assert!(
        err.contains("\"undefined\" is not a defined function"),
        "{err}"
    );
}

/// TestParseVars.
#[test]
fn parse_vars() {
    let cases: [(&str, &[&str]); 9] = [
        ("{{ .Prompt }}", &["prompt", "response"]),
        (
            "{{ .System }} {{ .Prompt }}",
            &["prompt", "response", "system"],
        ),
        (
            "{{ .System }} {{ .Prompt }} {{ .Response }}",
            &["prompt", "response", "system"],
        ),
        (
            "{{ with .Tools }}{{ . }}{{ end }} {{ .System }} {{ .Prompt }}",
            &["prompt", "response", "system", "tools"],
        ),
        (
            "{{ range .Messages }}{{ .Role }} {{ .Content }}{{ end }}",
            &["content", "messages", "role"],
        ),
        (
            "{{- range .Messages }}\n{{- if eq .Role \"system\" }}SYSTEM:\n{{- else if eq .Role \"user\" }}USER:\n{{- else if eq .Role \"assistant\" }}ASSISTANT:\n{{- end }} {{ .Content }}\n{{- end }}",
            &["content", "messages", "role"],
        ),
        (
            CHATML_OLD,
            &[
                "content", "messages", "prompt", "response", "role", "system",
            ],
        ),
        ("{{ json .Messages }}", &["messages"]),
        ("{{ undefined }}", &["response"]),
    ];
    for (src, want) in cases {
        assert_eq!(Template::parse(src).unwrap().vars(), want, "{src}");
    }
}

#[test]
fn default_template_and_source() {
    let t = Template::default_template();
    assert_eq!(t.source(), DEFAULT_TEMPLATE);
    assert_eq!(t.vars(), ["prompt", "response"]);
    let v = Values {
        messages: vec![
            msg("user", "hi"),
            msg("assistant", "yo"),
            msg("user", "again"),
        ],
        ..Default::default()
    };
    assert_eq!(t.render(&v).unwrap(), "hiyoagain");
    assert_eq!(
        Template::parse(GEMMA3_INSTRUCT).unwrap().source(),
        GEMMA3_INSTRUCT
    );
}

#[test]
fn collate_merges_like_ollama() {
    let tool = |c: &str| Message {
        role: "tool".into(),
        content: c.into(),
        tool_name: "t".into(),
        ..Default::default()
    };
    let msgs = vec![
        msg("system", "s1"),
        msg("system", "s2"),
        msg("user", "a"),
        msg("user", "b"),
        tool("r1"),
        tool("r2"),
        msg("system", "s3"),
    ];
    let (system, out) = collate(&msgs);
    assert_eq!(system, "s1\n\ns2\n\ns3");
    let roles: Vec<(&str, &str)> = out
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(
        roles,
        [
            ("system", "s1\n\ns2"),
            ("user", "a\n\nb"),
            ("tool", "r1"),
            ("tool", "r2"),
            ("system", "s3")
        ]
    );
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather <now> & later",
        "parameters": {"type": "object", "required": ["city"], "properties": {
            "unit": {"type": "string", "enum": ["c", "f"], "description": "Unit"},
            "city": {"type": ["string", "null"], "description": "City"},
            "days": {"type": "integer"}}}}})
}

#[test]
fn tools_print_as_api_json() {
    let values = Values {
        messages: vec![msg("user", "hi")],
        tools: vec![weather_tool()],
        ..Default::default()
    };
    let t =
        Template::parse("{{ .Tools }}|{{ json .Tools }}{{ range .Messages }}{{ end }}").unwrap();
    let want = r#"[{"type":"function","function":{"name":"get_weather","description":"Weather \u003cnow\u003e \u0026 later","parameters":{"type":"object","required":["city"],"properties":{"unit":{"type":"string","description":"Unit","enum":["c","f"]},"city":{"type":["string","null"],"description":"City"},"days":{"type":"integer"}}}}}]"#;
    assert_eq!(t.render(&values).unwrap(), format!("{want}|{want}"));
}

#[test]
fn tool_fields_and_typescript_types() {
    let src = "{{- range .Tools }}{{ .Function.Name }}({{ range $name, $p := .Function.Parameters.Properties }}{{ $name }}: {{ toTypeScriptType $p }}; {{ end }}){{ end }}{{ range .Messages }}{{ end }}";
    let values = Values {
        messages: vec![msg("user", "x")],
        tools: vec![weather_tool()],
        ..Default::default()
    };
    assert_eq!(
        Template::parse(src).unwrap().render(&values).unwrap(),
        "get_weather(city: string | null; days: number; unit: string; )"
    );
}

#[test]
fn tool_calls_and_results() {
    let call = json!({"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"days": 3, "city": "Paris", "big": 1000000}}});
    let assistant = Message {
        role: "assistant".into(),
        tool_calls: vec![call],
        ..Default::default()
    };
    let result = Message {
        role: "tool".into(),
        content: "sunny".into(),
        tool_name: "get_weather".into(),
        tool_call_id: "call_1".into(),
        ..Default::default()
    };
    let src = "{{- range .Messages }}{{ .Role }}:{{ if .ToolCalls }}{{ range .ToolCalls }}{{ .ID }} {{ .Function.Name }} {{ .Function.Arguments }} {{ json .Function.Arguments }} {{ .Function.Arguments.big }} {{ .Function.Index }}{{ end }}{{ else }}{{ .Content }} {{ .ToolName }} {{ .ToolCallID }}{{ end }}\n{{ end }}";
    let values = Values {
        messages: vec![msg("user", "q"), assistant, result],
        ..Default::default()
    };
    assert_eq!(
        Template::parse(src).unwrap().render(&values).unwrap(),
        "user:q  \nassistant:call_1 get_weather {\"days\":3,\"city\":\"Paris\",\"big\":1000000} {\"days\":3,\"city\":\"Paris\",\"big\":1000000} 1e+06 0\ntool:sunny get_weather call_1\n"
    );
}

#[test]
fn messages_json_is_api_json() {
    let m = Message {
        role: "user".into(),
        content: "c".into(),
        images: 1,
        ..Default::default()
    };
    let values = Values {
        messages: vec![m],
        ..Default::default()
    };
    let t = Template::parse(
        "{{ json .Messages }} {{ len (index .Messages 0).Images }} {{ json .Tools }}",
    )
    .unwrap();
    assert_eq!(
        t.render(&values).unwrap(),
        r#"[{"role":"user","content":"c","images":[""]}] 1 null"#
    );
}

#[test]
fn thinking_values() {
    let src = "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ .Content }}{{ end }}|{{ .Think }} {{ .IsThinkSet }} {{ .ThinkLevel }}";
    let t = Template::parse(src).unwrap();
    let m = Message {
        role: "assistant".into(),
        content: "answer".into(),
        thinking: "hmm".into(),
        ..Default::default()
    };
    let unset = Values {
        messages: vec![m.clone()],
        ..Default::default()
    };
    assert_eq!(
        t.render(&unset).unwrap(),
        "<think>hmm</think>answer|false false "
    );
    let set = Values {
        messages: vec![m],
        think: Some(true),
        think_level: "high".into(),
        ..Default::default()
    };
    assert_eq!(
        t.render(&set).unwrap(),
        "<think>hmm</think>answer|true true high"
    );
    // Legacy and suffix modes see the think flags too.
    let legacy = Template::parse("{{ if .Think }}T{{ end }}{{ .Prompt }}").unwrap();
    let v = Values {
        messages: vec![msg("user", "p")],
        think: Some(true),
        ..Default::default()
    };
    assert_eq!(legacy.render(&v).unwrap(), "Tp");
}

#[test]
fn legacy_system_mid_conversation_flushes_turn() {
    let t = Template::parse("[{{ .System }}|{{ .Prompt }}|{{ .Response }}]").unwrap();
    let msgs = vec![
        msg("user", "u1"),
        msg("assistant", "a1"),
        msg("system", "s2"),
        msg("user", "u2"),
    ];
    assert_eq!(render_legacy(t.source(), msgs), "[|u1|a1][s2|u2|");
    // The final turn is cut right after .Response.
    assert_eq!(render_legacy(t.source(), vec![msg("user", "u")]), "[|u|");
}

#[test]
fn render_errors_are_go_errors() {
    let t = Template::parse("{{ range .Messages }}{{ .Content.Nope }}{{ end }}").unwrap();
    let v = Values {
        messages: vec![msg("user", "x")],
        ..Default::default()
    };
    assert_eq!(
        t.render(&v).unwrap_err().to_string(),
        "template: :1:24: executing \"\" at <.Content.Nope>: can't evaluate field Nope in type string"
    );
    // Later lines count columns from their own start; long operands are cut at 20 bytes.
    let t = Template::parse(
        "{{ range .Messages }}\n  {{ $.System.X }}{{ .Role.ABCDEFGHIJKLMNOPQRSTU }}{{ end }}",
    )
    .unwrap();
    assert_eq!(
        t.render(&v).unwrap_err().to_string(),
        "template: :2:5: executing \"\" at <$.System.X>: can't evaluate field X in type string"
    );
    let t = Template::parse("{{ .Prompt.ABCDEFGHIJKLMNOPQRSTU }}").unwrap();
    assert_eq!(
        t.render(&Values::default()).unwrap_err().to_string(),
        "template: :1:3: executing \"\" at <.Prompt.ABCDEFGHIJKL...>: can't evaluate field ABCDEFGHIJKLMNOPQRSTU in type string"
    );
    assert!(Template::parse("{{ if .X }}").is_err());
}

#[test]
fn templates_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + Clone>() {}
    shared::<Template>();
    shared::<super::go::Template>();
    shared::<super::Error>();
}
