//! The `run` REPL in a real terminal: tmux gives `rollama run` a pseudo-terminal, the test types
//! into it and reads the screen.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

/// One tmux server (own socket) with one window running a command.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let socket = format!("rollama-it-{}-{name}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
                command,
            ])
            .status()
            .expect("tmux is needed for the REPL tests (.ci/run installs it)")
            .success();
        assert!(ok, "tmux new-session");
        Tmux { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0"])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys {keys:?}");
    }

    /// Types a line literally, then Enter.
    fn line(&self, text: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys -l {text:?}");
        self.keys(&["Enter"]);
    }

    /// The whole pane, scrollback included.
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-J",
                "-S",
                "-",
                "-t",
                "0",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn prompts(screen: &str) -> usize {
    screen.lines().filter(|l| l.starts_with(">>> ")).count()
}

fn run_in_tmux(s: &Server, name: &str, model: &str) -> Tmux {
    let command = format!(
        "env OLLAMA_HOST={} HOME={} TERM=xterm {BIN} run {model}; echo EXIT=$?; sleep 600",
        s.host(),
        s.home.display()
    );
    Tmux::start(name, &command)
}

#[test]
fn repl_multiline_interrupt_history_and_exit() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    // A model that answers at length, so Ctrl-C lands in the middle of an answer.
    let dir = tempdir();
    std::fs::write(
        dir.path().join("Modelfile"),
        format!("FROM {MODEL}\nPARAMETER num_predict 100000\n"),
    )
    .unwrap();
    let out = s.cli(&[
        "create",
        "long",
        "-f",
        dir.path().join("Modelfile").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let t = run_in_tmux(&s, "a", "long");
    t.wait_for("the prompt", |s| s.contains(">>> "));
    // A `"""` block spans lines; the continuation prompt is `... `.
    t.line("\"\"\"Tell me a long story");
    t.wait_for("the continuation prompt", |s| s.contains("... "));
    t.line("about the sea.\"\"\"");
    // Let the answer stream for a while, then stop it.
    let before = t.wait_for("the answer", |s| {
        s.lines()
            .skip_while(|l| !l.starts_with("... about the sea."))
            .skip(1)
            .any(|l| l.trim().len() > 20)
    });
    assert_eq!(prompts(&before), 1, "{before}");
    t.keys(&["C-c"]);
    let after = t.wait_for("a new prompt after Ctrl-C", |s| prompts(s) == 2);
    assert!(
        !after.contains("EXIT="),
        "Ctrl-C stops the answer, not the REPL:\n{after}"
    );
    // The request was dropped, and the engine stopped generating for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.log_text().contains("request cancelled by the client") {
        assert!(
            Instant::now() < deadline,
            "not cancelled:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Ctrl-C on an empty line only hints.
    t.keys(&["C-c"]);
    t.wait_for("the exit hint", |s| {
        s.contains("Use Ctrl + d or /bye to exit.")
    });
    t.line("/bye");
    let end = t.wait_for("exit", |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");

    // The history file kept what was typed; a new session recalls it with the Up key, and
    // Ctrl-D leaves.
    let history = std::fs::read_to_string(s.home.join(".ollama/history")).expect("history file");
    assert!(history.contains("/bye"), "{history}");
    assert!(history.contains("Tell me a long story"), "{history}");
    let t = run_in_tmux(&s, "b", MODEL);
    t.wait_for("the prompt", |s| s.contains(">>> "));
    t.keys(&["Up"]);
    t.wait_for("the last history entry", |s| s.contains(">>> /bye"));
    t.keys(&["C-u"]);
    t.line("Say hi.");
    // A short answer (the test model stops at 48 tokens) then a fresh prompt.
    t.wait_for("the answer to finish", |s| prompts(s) == 2);
    t.keys(&["C-d"]);
    let end = t.wait_for("exit", |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}
