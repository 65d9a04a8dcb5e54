//! Hugging Face chat templates (the GGUF's `tokenizer.chat_template`, Jinja) rendered with
//! minijinja, with the Python string methods (`pycompat`), `raise_exception` and `strftime_now`
//! that real templates call. Used when a model has no Go TEMPLATE. A leaf module.

use minijinja::{Environment, Error, ErrorKind, Value, context};

/// Renders `source` for `messages` (API-shaped JSON objects) with the generation prompt added.
pub fn render(
    source: &str,
    messages: &[serde_json::Value],
    tools: &[serde_json::Value],
    bos_token: &str,
    eos_token: &str,
) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    env.add_function("strftime_now", |fmt: String| -> String {
        chrono::Local::now().format(&fmt).to_string()
    });
    env.add_template("chat", source)
        .map_err(|e| format!("template error: {e}"))?;
    let tmpl = env
        .get_template("chat")
        .map_err(|e| format!("template error: {e}"))?;
    let tools = if tools.is_empty() {
        Value::from(())
    } else {
        Value::from_serialize(tools)
    };
    tmpl.render(context! {
        messages => Value::from_serialize(messages),
        tools => tools,
        add_generation_prompt => true,
        bos_token => bos_token,
        eos_token => eos_token,
    })
    .map_err(|e| format!("template error: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The shape of Gemma 3's official chat template (system merged into the first user turn).
    const GEMMA: &str = "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = \"\" -%}{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}";

    #[test]
    fn gemma_shape() {
        let msgs = vec![
            serde_json::json!({"role": "system", "content": "Be terse."}),
            serde_json::json!({"role": "user", "content": "Hi"}),
        ];
        let out = render(GEMMA, &msgs, &[], "<bos>", "<eos>").unwrap();
        assert_eq!(
            out,
            "<bos><start_of_turn>user\nBe terse.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn raise_exception_is_an_error() {
        let err = render("{{ raise_exception('nope') }}", &[], &[], "", "").unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn python_methods() {
        let msgs = vec![serde_json::json!({"role": "user", "content": "  x  "})];
        let out = render(
            "{{ messages[0].content.strip() | upper }}",
            &msgs,
            &[],
            "",
            "",
        )
        .unwrap();
        assert_eq!(out, "X");
    }
}
