//! Tools: calls found in the answer and returned as `tool_calls`, tool results rendered back
//! through the template, and `tool_choice` on `/v1/chat/completions`. The test model has no tool
//! template, so a model with one is created; a grammar (`format`) makes its answer a call.

use serde_json::{Value, json};

use crate::harness::*;

const TEMPLATE: &str = r#"{{- if .Tools }}<start_of_turn>user
Tools: {{ range .Tools }}{{ .Function.Name }} {{ end }}<end_of_turn>
{{ end }}{{- range .Messages }}{{- if eq .Role "tool" }}<start_of_turn>tool
{{ .Content }}<end_of_turn>
{{ else if .ToolCalls }}<start_of_turn>model
<tool_call>{{ range .ToolCalls }}{"name": "{{ .Function.Name }}"}{{ end }}</tool_call><end_of_turn>
{{ else }}<start_of_turn>{{ if eq .Role "assistant" }}model{{ else }}user{{ end }}
{{ .Content }}<end_of_turn>
{{ end }}{{ end }}<start_of_turn>model
"#;

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

fn call_schema() -> Value {
    json!({"type": "object", "properties": {
        "name": {"enum": ["get_weather"]},
        "arguments": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}},
        "required": ["name", "arguments"]})
}

/// Creates `tooly`: the test model with a tool-calling template.
pub fn tool_model(s: &Server) {
    let dir = tempdir();
    let path = dir.path().join("Modelfile");
    std::fs::write(
        &path,
        format!("FROM {MODEL}\nTEMPLATE \"\"\"{TEMPLATE}\"\"\"\nPARAMETER num_predict 60\n"),
    )
    .unwrap();
    let out = s.cli(&["create", "tooly", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_calls_come_back_parsed_and_results_go_back_in() {
    let s = Server::start();
    tool_model(&s);
    let (_, show) = post(&s, "/api/show", json!({"model": "tooly"})).await;
    assert!(
        show["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("tools")),
        "{show}"
    );
    let ask = json!([{"role": "user", "content": "What is the weather in Paris?"}]);
    let (status, r) = post(
        &s,
        "/api/chat",
        json!({"model": "tooly", "messages": ask, "tools": [weather_tool()], "format": call_schema(),
               "stream": false, "options": {"seed": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let calls = r["message"]["tool_calls"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(calls.len(), 1, "{r}");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert!(calls[0]["function"]["arguments"]["city"].is_string(), "{r}");
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(r["message"]["content"], "", "the call is not content");

    // Streamed: the call arrives in a chunk of its own.
    let lines = post_stream(
        &s,
        "/api/chat",
        json!({"model": "tooly", "messages": ask, "tools": [weather_tool()], "format": call_schema(),
               "options": {"seed": 1}}),
    )
    .await;
    let streamed: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l["message"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert_eq!(streamed.len(), 1, "{lines:?}");
    assert_eq!(streamed[0]["function"], calls[0]["function"]);

    // The call and its result go back through the template.
    let history = json!([
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 degrees and sunny", "tool_name": "get_weather"}
    ]);
    let (_, dbg) = post(
        &s,
        "/api/chat",
        json!({"model": "tooly", "messages": history, "tools": [weather_tool()], "_debug_render_only": true}),
    )
    .await;
    let rendered = dbg["_debug_info"]["rendered_template"].as_str().unwrap();
    for part in [
        "Tools: get_weather ",
        "<start_of_turn>model\n<tool_call>{\"name\": \"get_weather\"}</tool_call><end_of_turn>",
        "<start_of_turn>tool\n18 degrees and sunny<end_of_turn>",
    ] {
        assert!(rendered.contains(part), "{part:?} in {rendered:?}");
    }
    // A model whose template has no tools refuses them.
    let (status, r) = post(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": ask, "tools": [weather_tool()]}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .ends_with("does not support tools"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_choice_required_and_none_on_the_openai_api() {
    let s = Server::start();
    tool_model(&s);
    let ask = json!([{"role": "user", "content": "What is the weather in Paris?"}]);
    let (status, r) = post(
        &s,
        "/v1/chat/completions",
        json!({"model": "tooly", "messages": ask, "tools": [weather_tool()], "tool_choice": "required", "seed": 2}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let choice = &r["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{r}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args.is_object(), "{args}");
    // "none": the model is not told about tools, and no call comes back.
    let (_, dbg) = post(
        &s,
        "/v1/chat/completions",
        json!({"model": "tooly", "messages": ask, "tools": [weather_tool()], "tool_choice": "none", "max_tokens": 5}),
    )
    .await;
    assert!(
        dbg["choices"][0]["message"].get("tool_calls").is_none(),
        "{dbg}"
    );
    assert_ne!(dbg["choices"][0]["finish_reason"], "tool_calls");
}
