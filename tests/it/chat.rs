//! `/api/chat` end to end on the real model.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn chat_with_system_and_history_renders_and_answers() {
    let s = Server::start();
    let messages = json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": "Apple."},
        {"role": "user", "content": "Another one?"}
    ]);
    let (_, dbg) = post(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": messages, "_debug_render_only": true}),
    )
    .await;
    assert_eq!(
        dbg["_debug_info"]["rendered_template"],
        "<start_of_turn>user\nYou are terse.<end_of_turn>\n<start_of_turn>user\nName a fruit.<end_of_turn>\n<start_of_turn>model\nApple.<end_of_turn>\n<start_of_turn>user\nAnother one?<end_of_turn>\n<start_of_turn>model\n"
    );

    let lines = post_stream(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": messages, "options": {"num_predict": 16, "temperature": 0}}),
    )
    .await;
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["message"]["role"], "assistant");
    assert!(last["eval_count"].as_u64().unwrap() > 0);
    for l in &lines[..lines.len() - 1] {
        assert_eq!(l["message"]["role"], "assistant");
        assert_eq!(l["done"], false);
    }
    let text: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert!(
        !text.contains("<end_of_turn>"),
        "the model's stop token is not shown"
    );

    let (status, body) = post(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": messages, "stream": false, "options": {"num_predict": 16, "temperature": 0}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["message"]["content"].as_str().unwrap(),
        text,
        "same answer whole or streamed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn next_turn_reuses_the_cached_prefix() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    let first = json!([{"role": "user", "content": "Tell me about the sea in one sentence."}]);
    let (_, a) = post(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": first, "stream": false, "options": {"num_predict": 10, "temperature": 0}}),
    )
    .await;
    let answer = a["message"]["content"].as_str().unwrap();
    let second = json!([
        {"role": "user", "content": "Tell me about the sea in one sentence."},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "And the sky?"}
    ]);
    let (status, b) = post(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": second, "stream": false, "options": {"num_predict": 4, "temperature": 0}}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    // prompt_eval_count counts cached tokens too, as Ollama's does.
    assert!(b["prompt_eval_count"].as_u64().unwrap() > a["prompt_eval_count"].as_u64().unwrap());
    // The debug log says how much of each prompt was already in the slot's cache: nothing the
    // first time, at least the whole first prompt the second time.
    let log = s.log_text();
    let reused: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("request admitted"))
        .map(|l| log_field(l, "reused"))
        .collect();
    assert_eq!(reused.len(), 2, "{log}");
    assert_eq!(reused[0], 0);
    assert!(
        reused[1] >= a["prompt_eval_count"].as_u64().unwrap(),
        "reused {} of the first prompt's {}",
        reused[1],
        a["prompt_eval_count"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_messages_load_the_model() {
    let s = Server::start();
    let (status, body) = post(&s, "/api/chat", json!({"model": MODEL, "messages": []})).await;
    assert_eq!(status, 200);
    assert_eq!(body["done_reason"], "load");
    assert_eq!(body["message"]["role"], "assistant");
}
