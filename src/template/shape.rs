//! API values reshaped the way Ollama's Go structs hold them, so that a template printing a tool,
//! a tool call or a message (`{{ .Tools }}`, `{{ json .Messages }}`, `{{ .Function.Arguments }}`)
//! writes the bytes Ollama writes. Go marshals struct fields in declaration order, leaves out
//! `omitempty` fields that are empty, drops fields the struct does not declare, and decodes every
//! JSON number inside an `any` as a float64. Tool properties and call arguments keep the order
//! the client sent them in (Ollama's ordered maps, `api.ToolPropertiesMap` and
//! `api.ToolCallFunctionArguments`).

use serde_json::{Map, Value};

/// `api.Tool`: `type`, `items` (omitempty), `function`.
pub fn tool(v: &Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), string(v.get("type")));
    put_any(&mut m, "items", v.get("items"));
    m.insert(
        "function".into(),
        function(v.get("function").unwrap_or(&Value::Null)),
    );
    Value::Object(m)
}

/// `api.ToolFunction`: `name`, `description` (omitempty), `parameters`.
fn function(v: &Value) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), string(v.get("name")));
    put_string(&mut m, "description", v.get("description"));
    m.insert(
        "parameters".into(),
        parameters(v.get("parameters").unwrap_or(&Value::Null)),
    );
    Value::Object(m)
}

/// `api.ToolFunctionParameters`: `type`, `$defs`, `items`, `required` (each omitempty), then
/// `properties` (`null` when absent).
fn parameters(v: &Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), string(v.get("type")));
    put_any(&mut m, "$defs", v.get("$defs"));
    put_any(&mut m, "items", v.get("items"));
    put_strings(&mut m, "required", v.get("required"));
    m.insert("properties".into(), properties(v.get("properties")));
    Value::Object(m)
}

fn properties(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Object(props)) => Value::Object(
            props
                .iter()
                .map(|(k, p)| (k.clone(), property(p)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// `api.ToolProperty`: `anyOf`, `type` (one type as a string, several as a list), `items`,
/// `description`, `enum`, `properties`, `required`, all omitempty.
fn property(v: &Value) -> Value {
    let mut m = Map::new();
    if let Some(Value::Array(any_of)) = v.get("anyOf")
        && !any_of.is_empty()
    {
        m.insert(
            "anyOf".into(),
            Value::Array(any_of.iter().map(property).collect()),
        );
    }
    let types: Vec<Value> = match v.get("type") {
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(a)) => a.iter().filter(|t| t.is_string()).cloned().collect(),
        _ => Vec::new(),
    };
    match types.len() {
        0 => {}
        1 => {
            m.insert("type".into(), types[0].clone());
        }
        _ => {
            m.insert("type".into(), Value::Array(types));
        }
    }
    put_any(&mut m, "items", v.get("items"));
    put_string(&mut m, "description", v.get("description"));
    if let Some(Value::Array(e)) = v.get("enum")
        && !e.is_empty()
    {
        m.insert("enum".into(), Value::Array(e.iter().map(go_any).collect()));
    }
    if let Some(Value::Object(p)) = v.get("properties")
        && !p.is_empty()
    {
        m.insert("properties".into(), properties(v.get("properties")));
    }
    put_strings(&mut m, "required", v.get("required"));
    Value::Object(m)
}

/// `api.ToolCall`: `id` (omitempty), `function` {`index`, `name`, `arguments`}.
pub fn tool_call(v: &Value) -> Value {
    let f = v.get("function").unwrap_or(&Value::Null);
    let mut func = Map::new();
    func.insert(
        "index".into(),
        Value::from(f.get("index").and_then(Value::as_i64).unwrap_or(0)),
    );
    func.insert("name".into(), string(f.get("name")));
    func.insert(
        "arguments".into(),
        match f.get("arguments") {
            Some(a @ Value::Object(_)) => go_any(a),
            _ => Value::Object(Map::new()),
        },
    );
    let mut m = Map::new();
    put_string(&mut m, "id", v.get("id"));
    m.insert("function".into(), Value::Object(func));
    Value::Object(m)
}

/// A JSON value decoded into Go's `any`: every number a float64, everything else as it is.
fn go_any(v: &Value) -> Value {
    match v {
        Value::Number(n) if !n.is_f64() => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Value::Array(a) => Value::Array(a.iter().map(go_any).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), go_any(v))).collect()),
        other => other.clone(),
    }
}

fn string(v: Option<&Value>) -> Value {
    Value::String(v.and_then(Value::as_str).unwrap_or_default().to_string())
}

fn put_string(m: &mut Map<String, Value>, key: &str, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        m.insert(key.into(), Value::String(s.to_string()));
    }
}

fn put_strings(m: &mut Map<String, Value>, key: &str, v: Option<&Value>) {
    if let Some(Value::Array(a)) = v {
        let strings: Vec<Value> = a.iter().filter(|s| s.is_string()).cloned().collect();
        if !strings.is_empty() {
            m.insert(key.into(), Value::Array(strings));
        }
    }
}

/// An `any` field with omitempty: left out when absent or null.
fn put_any(m: &mut Map<String, Value>, key: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        m.insert(key.into(), go_any(v));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_dropped_and_empty_ones_left_out() {
        let t = tool(
            &json!({"type": "function", "extra": 1, "function": {"name": "f",
            "parameters": {"type": "object", "properties": {"a": {"type": ["string"], "default": "x", "minimum": 1}}}}}),
        );
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}"#
        );
        let bare = tool(&json!({"type": "function", "function": {"name": "g"}}));
        assert_eq!(bare["function"]["parameters"]["properties"], Value::Null);
    }

    #[test]
    fn call_arguments_become_floats_in_the_order_sent() {
        let c = tool_call(
            &json!({"function": {"name": "f", "arguments": {"z": 1, "a": [2, {"n": 3}]}}}),
        );
        let args = &c["function"]["arguments"];
        assert_eq!(
            args.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["z", "a"]
        );
        assert!(args["z"].as_f64().is_some() && args["z"].as_i64().is_none());
        assert!(args["a"][1]["n"].is_f64());
        assert_eq!(c["function"]["index"], 0);
        assert!(c.get("id").is_none(), "id is omitempty");
    }
}
