#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::Template;

fn run(src: &str, data: Value) -> String {
    Template::parse(src)
        .unwrap_or_else(|e| panic!("parse {src:?}: {e}"))
        .execute(&data)
        .unwrap_or_else(|e| panic!("execute {src:?}: {e}"))
}

fn err(src: &str, data: Value) -> String {
    match Template::parse(src) {
        Err(e) => e.to_string(),
        Ok(t) => t.execute(&data).unwrap_err().to_string(),
    }
}

#[test]
fn text_fields_and_trim() {
    let d = json!({"Name": "x", "A": {"B": 3}});
    assert_eq!(run("hi {{ .Name }}!", d.clone()), "hi x!");
    assert_eq!(run("a \n {{- .Name -}} \n b", d.clone()), "axb");
    assert_eq!(run("{{ .A.B }}", d.clone()), "3");
    assert_eq!(run("{{ .Missing }}|{{ .Missing.Deeper }}", d.clone()), "|");
    assert_eq!(run("{{/* comment */}}x{{- /* c */ -}} y", d), "xy");
}

#[test]
fn go_names_resolve_to_api_keys() {
    let d = json!({"m": {"role": "user", "tool_calls": [1], "tool_call_id": "c1"}});
    assert_eq!(
        run(
            "{{ .m.Role }} {{ len .m.ToolCalls }} {{ .m.ToolCallID }}",
            d
        ),
        "user 1 c1"
    );
}

#[test]
fn conditionals() {
    let d = json!({"T": true, "F": false, "Z": 0, "E": "", "L": [], "S": "s"});
    assert_eq!(run("{{ if .T }}y{{ else }}n{{ end }}", d.clone()), "y");
    for f in ["F", "Z", "E", "L", "Nope"] {
        assert_eq!(
            run(
                &format!("{{{{ if .{f} }}}}y{{{{ else }}}}n{{{{ end }}}}"),
                d.clone()
            ),
            "n",
            "{f}"
        );
    }
    assert_eq!(
        run(
            "{{ if .F }}1{{ else if .S }}2{{ else }}3{{ end }}",
            d.clone()
        ),
        "2"
    );
    assert_eq!(
        run("{{ with .S }}[{{ . }}]{{ else }}none{{ end }}", d.clone()),
        "[s]"
    );
    assert_eq!(
        run(
            "{{ with .E }}[{{ . }}]{{ else with .S }}<{{ . }}>{{ end }}",
            d.clone()
        ),
        "<s>"
    );
    assert_eq!(
        run(
            "{{ and .T .S }} {{ and .F .S }} {{ or .E .S }} {{ not .T }}",
            d
        ),
        "s false s false"
    );
}

#[test]
fn ranges_and_variables() {
    let d = json!({"L": ["a", "b", "c"], "M": {"z": 1, "a": 2}, "E": []});
    assert_eq!(run("{{ range .L }}{{ . }}{{ end }}", d.clone()), "abc");
    assert_eq!(
        run(
            "{{ range $i, $e := .L }}{{ $i }}={{ $e }};{{ end }}",
            d.clone()
        ),
        "0=a;1=b;2=c;"
    );
    assert_eq!(
        run(
            "{{ range $k, $v := .M }}{{ $k }}{{ $v }}{{ end }}",
            d.clone()
        ),
        "a2z1"
    );
    assert_eq!(
        run("{{ range .E }}x{{ else }}empty{{ end }}", d.clone()),
        "empty"
    );
    assert_eq!(
        run(
            "{{ range .L }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}",
            d.clone()
        ),
        "a"
    );
    assert_eq!(
        run(
            "{{ range .L }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}",
            d.clone()
        ),
        "ac"
    );
    assert_eq!(
        run("{{ range $i, $_ := .L }}{{ $.M.a }}{{ end }}", d.clone()),
        "222"
    );
    assert_eq!(
        run(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            d.clone()
        ),
        "2"
    );
    assert_eq!(
        run(
            "{{ $x := \"out\" }}{{ range .L }}{{ $x := . }}{{ end }}{{ $x }}",
            d.clone()
        ),
        "out"
    );
    assert_eq!(run("{{ range 3 }}{{ . }}{{ end }}", d.clone()), "012");
    assert!(err("{{ $y }}", d).contains("undefined variable: $y"));
}

#[test]
fn functions_and_pipelines() {
    let d = json!({"L": ["a", "b", "c"], "N": 3, "S": "héllo", "O": {"k": "v"}});
    assert_eq!(
        run(
            "{{ len .L }} {{ index .L 1 }} {{ index .O \"k\" }}",
            d.clone()
        ),
        "3 b v"
    );
    assert_eq!(
        run("{{ len (slice .L 1) }} {{ slice .L 1 2 }}", d.clone()),
        "2 [\"b\"]"
    );
    assert_eq!(run("{{ eq (len (slice .L 2)) 1 }}", d.clone()), "true");
    assert_eq!(
        run(
            "{{ eq .N 1 2 3 }} {{ ne .N 3 }} {{ lt 1 2 }} {{ ge 2.5 3 }}",
            d.clone()
        ),
        "true false true false"
    );
    assert_eq!(run("{{ .S | printf \"%s!\" }}", d.clone()), "héllo!");
    assert_eq!(
        run(
            "{{ printf \"%d-%5.2f-%q-%v\" .N 3.14159 \"x\" .L }}",
            d.clone()
        ),
        "3- 3.14-\"x\"-[\"a\",\"b\",\"c\"]"
    );
    assert_eq!(run("{{ print 1 2 \"a\" \"b\" 3 }}", d.clone()), "1 2ab3");
    assert_eq!(
        run("{{ json .O }} {{ json \"<&>\" }}", d.clone()),
        "{\"k\":\"v\"} \"\\u003c\\u0026\\u003e\""
    );
    assert_eq!(run("{{ (index .L 0) }}{{ (.O).k }}", d.clone()), "av");
    assert_eq!(run("{{ currentDate }}", d.clone()).len(), 10);
    assert!(err("{{ eq .N \"3\" }}", d.clone()).contains("incompatible types for comparison"));
    assert!(err("{{ index .L 9 }}", d.clone()).contains("index out of range"));
    assert!(err("{{ nosuch 1 }}", d.clone()).contains("\"nosuch\" is not a defined function"));
    assert!(err("{{ .S 1 }}", d).contains("can't give argument to non-function"));
}

#[test]
fn typescript_types() {
    let d = json!({"P": {"type": "string", "enum": ["a", "b"]}, "Q": {"type": ["integer", "null"]},
        "R": {"type": "array", "items": {"type": "number"}}, "S": {"type": "object"},
        "T": {"anyOf": [{"type": "boolean"}, {"type": "null"}]}, "U": {}});
    assert_eq!(
        run(
            "{{ toTypeScriptType .P }}|{{ toTypeScriptType .Q }}|{{ toTypeScriptType .R }}|{{ toTypeScriptType .S }}|{{ toTypeScriptType .T }}|{{ toTypeScriptType .U }}",
            d
        ),
        "string|number | null|any[]|Record<string, any>|boolean | null|any"
    );
}

#[test]
fn parse_errors_never_panic() {
    for src in [
        "{{",
        "{{ .X",
        "{{ if .X }}",
        "{{ end }}",
        "{{ else }}",
        "{{ range }}{{ end }}",
        "{{ (.X }}",
        "{{ .X) }}",
        "{{ | .X }}",
        "{{ \"unterminated }}",
        "{{ define \"x\" }}{{ end }}",
        "{{ 0x }}",
        "{{ $x := }}",
    ] {
        assert!(
            Template::parse(src).is_err(),
            "{src:?} should not parse: {:?}",
            Template::parse(src)
        );
    }
    // Every prefix of a real template either parses or errors, and executes without panicking.
    let src = "{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 }}{{ if eq .Role \"user\" }}u:{{ .Content }}{{ else }}a:{{ .Content }}{{ end }}{{ if $last }}!{{ end }}{{ end }}";
    let data = json!({"Messages": [{"role": "user", "content": "x"}]});
    for i in 0..=src.len() {
        if let Ok(t) = Template::parse(&src[..i]) {
            let _ = t.execute(&data);
        }
    }
    let deep = format!(
        "{}x{}",
        "{{ if true }}".repeat(500),
        "{{ end }}".repeat(500)
    );
    assert!(Template::parse(&deep).is_err(), "nesting is bounded");
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    assert!(Template::parse(&deep).is_err());
}

#[test]
fn vars_and_cut() {
    let t = Template::parse(
        "{{ if .System }}{{ .System }}{{ end }}{{ range $.Messages }}{{ .Content }}{{ end }}",
    )
    .unwrap();
    assert_eq!(t.vars(), ["content", "messages", "system"]);
    let t = Template::parse("<s>{{ .Prompt }} [/INST] {{ .Response }}</s>{{ if .X }}tail{{ end }}")
        .unwrap();
    let cut = t.cut_after_response();
    assert_eq!(
        cut.execute(&json!({"Prompt": "p", "Response": "r", "X": true}))
            .unwrap(),
        "<s>p [/INST] r"
    );
}

/// Ollama's alpaca template, rendered for the conversation of Ollama's template testdata
/// (`template/testdata/alpaca.gotmpl/system-user-assistant-user`).
#[test]
fn ollama_alpaca() {
    let src = "{{- $system := \"\" }}\n{{- range .Messages }}\n{{- if eq .Role \"system\" }}\n{{- if not $system }}{{ $system = .Content }}\n{{- else }}{{ $system = printf \"%s\\n\\n%s\" $system .Content }}\n{{- end }}\n{{- else if eq .Role \"user\" }}\n{{- if $system }}{{ $system }}\n\n{{ $system = \"\" }}\n{{- end }}### Instruction:\n{{ .Content }}\n\n{{ else if eq .Role \"assistant\" }}### Response:\n{{ .Content }}\n\n{{ end }}\n{{- end }}### Response:\n";
    let msgs = json!([
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"}
    ]);
    assert_eq!(
        run(src, json!({"Messages": msgs})),
        "You are a helpful assistant.\n\n### Instruction:\nHello, how are you?\n\n### Response:\nI'm doing great. How can I help you today?\n\n### Instruction:\nI'd like to show off how chat templating works!\n\n### Response:\n"
    );
}
