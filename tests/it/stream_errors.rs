//! HTTP-layer behaviour that the real engine cannot be made to show on demand: an error after
//! streaming began, and a runner that dies mid-answer. The real router and store, with a
//! scripted runner in place of llama.cpp (the end-to-end tests use the real engine).

use std::sync::Arc;

use rollama::engine::{CompletionRequest, EngineError, Event, LoadParams, Runner, RunnerInfo};
use rollama::envconfig::Config;
use rollama::sched::Loader;
use rollama::server::{AppState, router};
use rollama::store::Store;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::harness::*;

struct Scripted {
    info: RunnerInfo,
    /// Events sent for every completion; the channel closes after them.
    script: Vec<Event>,
}

impl Runner for Scripted {
    fn info(&self) -> &RunnerInfo {
        &self.info
    }
    fn is_alive(&self) -> bool {
        true
    }
    fn stop(&self) {}
    fn completion(
        &self,
        _: CompletionRequest,
    ) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        let (tx, rx) = mpsc::unbounded_channel();
        for e in &self.script {
            tx.send(e.clone()).unwrap();
        }
        Ok(rx)
    }
    fn tokenize(&self, text: String) -> Result<oneshot::Receiver<Vec<i32>>, EngineError> {
        let (tx, rx) = oneshot::channel();
        tx.send(vec![0; text.len() / 4]).unwrap();
        Ok(rx)
    }
    fn detokenize(&self, _: Vec<i32>) -> Result<oneshot::Receiver<String>, EngineError> {
        let (tx, rx) = oneshot::channel();
        tx.send(String::new()).unwrap();
        Ok(rx)
    }
}

struct ScriptedLoader(Vec<Event>);

impl Loader for ScriptedLoader {
    fn load(&self, _: &LoadParams) -> Result<Arc<dyn Runner>, EngineError> {
        Ok(Arc::new(Scripted {
            info: RunnerInfo {
                n_ctx_train: 4096,
                model_size: 1,
                total_size: 1,
            },
            script: self.0.clone(),
        }))
    }
}

async fn serve_scripted(script: Vec<Event>) -> (String, tempfile::TempDir) {
    let dir = tempdir();
    let models = dir.path().join("models");
    clone_store(fixture_store(), &models);
    let config =
        Config::from_lookup(|k| (k == "OLLAMA_MODELS").then(|| models.display().to_string()));
    let state = Arc::new(AppState::new(
        config,
        Store::open(&models).unwrap(),
        Arc::new(ScriptedLoader(script)),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    (format!("http://{addr}"), dir)
}

async fn lines(base: &str, path: &str, body: Value) -> (u16, Vec<Value>) {
    let r = http()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_after_streaming_began_is_the_last_line() {
    let (base, _dir) = serve_scripted(vec![
        Event::Text("Hel".into()),
        Event::Text("lo".into()),
        Event::Error("boom".into()),
    ])
    .await;
    for (path, body) in [
        ("/api/generate", json!({"model": MODEL, "prompt": "x"})),
        (
            "/api/chat",
            json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}]}),
        ),
    ] {
        let (status, l) = lines(&base, path, body.clone()).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(l.len(), 3, "{path}: {l:?}");
        assert_eq!(l[2], json!({"error": "boom"}));
        let mut whole = body;
        whole["stream"] = json!(false);
        let (status, l) = lines(&base, path, whole).await;
        assert_eq!(
            (status, &l[0]),
            (500, &json!({"error": "boom"})),
            "{path} non-streamed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_that_vanishes_costs_the_request_not_the_server() {
    let (base, _dir) = serve_scripted(vec![Event::Text("partial".into())]).await;
    let (status, l) = lines(
        &base,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(l[0]["response"], "partial");
    assert_eq!(
        l.last().unwrap()["error"],
        "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details"
    );
    let r = http().get(format!("{base}/api/tags")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "still serving");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_before_anything_was_written_is_a_status() {
    let (base, _dir) = serve_scripted(vec![Event::Error("decode failed".into())]).await;
    let r = http()
        .post(format!("{base}/api/generate"))
        .json(&json!({"model": MODEL, "prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "decode failed"})
    );
}

/// Thinking needs a model whose template has thinking tags and an answer that uses them; the
/// test model has neither, so a scripted answer stands in for llama.cpp here.
#[tokio::test(flavor = "multi_thread")]
async fn thinking_is_separated_from_the_answer() {
    let (base, _dir) = serve_scripted(vec![
        Event::Text("<thi".into()),
        Event::Text("nk>Two plus".into()),
        Event::Text(" two.</think>\n\n".into()),
        Event::Text("It is 4.".into()),
        Event::Done(rollama::engine::Done {
            reason: rollama::engine::DoneReason::Stop,
            prompt_tokens: 3,
            prompt_evaluated: 3,
            prompt_ns: 1,
            eval_tokens: 4,
            eval_ns: 1,
            context: Vec::new(),
        }),
    ])
    .await;
    let template = "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ .Content }}{{ end }}";
    let r = http()
        .post(format!("{base}/api/create"))
        .json(&json!({"model": "thinker", "from": MODEL, "template": template, "stream": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ask = json!([{"role": "user", "content": "2+2?"}]);
    let (status, lines_) = lines(
        &base,
        "/api/chat",
        json!({"model": "thinker", "messages": ask, "stream": false}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(lines_[0]["message"]["thinking"], "Two plus two.");
    assert_eq!(lines_[0]["message"]["content"], "It is 4.");
    // Streamed: thinking pieces first, then content; nothing of the tags shows.
    let (_, chunks) = lines(
        &base,
        "/api/chat",
        json!({"model": "thinker", "messages": ask}),
    )
    .await;
    let thinking: String = chunks
        .iter()
        .filter_map(|c| c["message"]["thinking"].as_str())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["message"]["content"].as_str())
        .collect();
    assert_eq!(
        (thinking.as_str(), content.as_str()),
        ("Two plus two.", "It is 4.")
    );
    // Generate too; think:false leaves the text alone.
    let (_, g) = lines(
        &base,
        "/api/generate",
        json!({"model": "thinker", "prompt": "2+2?", "stream": false}),
    )
    .await;
    assert_eq!(
        (g[0]["thinking"].as_str(), g[0]["response"].as_str()),
        (Some("Two plus two."), Some("It is 4."))
    );
    let (_, off) = lines(
        &base,
        "/api/chat",
        json!({"model": "thinker", "messages": ask, "stream": false, "think": false}),
    )
    .await;
    assert!(
        off[0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("<think>"),
        "{:?}",
        off[0]
    );
    // The model has the capability, so `think` is accepted; the test model refuses it.
    let (status, _) = lines(
        &base,
        "/api/chat",
        json!({"model": "thinker", "messages": ask, "stream": false, "think": "high"}),
    )
    .await;
    assert_eq!(status, 200);
}
