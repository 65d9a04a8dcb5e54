//! The official Python clients (`ollama` 0.6.x, `openai` and `anthropic`) against the real server and model.
//! The clients live in a virtual environment that `scripts/client-venv.sh` creates in the cache
//! outside the repository; the scripts they run are in tests/clients/.

use std::process::Command;
use std::sync::OnceLock;

use crate::harness::*;

pub fn python() -> &'static str {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new(repo().join("scripts/client-venv.sh"))
            .output()
            .expect("run scripts/client-venv.sh");
        assert!(
            out.status.success(),
            "client-venv.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

fn run_script(s: &Server, script: &str, extra: &[&str]) {
    let out = Command::new(python())
        .arg(repo().join("tests/clients").join(script))
        .arg(&s.base)
        .arg(MODEL)
        .args(extra)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}\nserver log tail:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log_text()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_official_ollama_client() {
    let s = Server::start_env(&[("OLLAMA_NUM_PARALLEL", "4")]);
    run_script(&s, "ollama_client.py", &[]);
}

#[test]
fn the_official_openai_client() {
    let s = Server::start();
    crate::tools::tool_model(&s);
    run_script(&s, "openai_client.py", &["tooly"]);
}

#[test]
fn the_official_anthropic_client() {
    let s = Server::start();
    crate::tools::tool_model(&s);
    run_script(&s, "anthropic_client.py", &["tooly"]);
}
