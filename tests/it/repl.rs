//! The `run` REPL in a real terminal: tmux gives `rollama run` a pseudo-terminal, the test types
//! into it and reads the screen.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

/// One tmux server (own socket) with one window running a command.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn start(name: &str, command: &str) -> Tmux {
        Tmux::start_sized(name, command, 160)
    }

    pub(crate) fn start_sized(name: &str, command: &str, width: usize) -> Tmux {
        let socket = format!("rollama-it-{}-{name}", std::process::id());
        let width = width.to_string();
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                &width,
                "-y",
                "50",
                command,
            ])
            .status()
            .expect("tmux is needed for the REPL tests (scripts/test.sh installs it)")
            .success();
        assert!(ok, "tmux new-session");
        Tmux { socket }
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0"])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys {keys:?}");
    }

    /// Types a line literally, then Enter.
    pub(crate) fn line(&self, text: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys -l {text:?}");
        self.keys(&["Enter"]);
    }

    /// The whole pane, scrollback included.
    /// The length of the screen without the prompt's placeholders, which typing replaces: what
    /// the next command prints starts after it.
    pub(crate) fn typed_len(&self) -> usize {
        self.screen()
            .replace("Send a message (/? for help)", "")
            .replace("Use \"\"\" to end multi-line input", "")
            .len()
    }

    pub(crate) fn screen(&self) -> String {
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

    /// The pane's rows as the terminal shows them (wrapped lines not joined).
    pub(crate) fn rows(&self) -> Vec<String> {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-S",
                "-",
                "-t",
                "0",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    pub(crate) fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
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

pub(crate) fn run_in_tmux(s: &Server, name: &str, model: &str) -> Tmux {
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
    // Ollama's placeholder on the empty prompt line, gone once Enter is pressed.
    t.wait_for("the placeholder", |s| {
        s.contains(">>> Send a message (/? for help)")
    });
    t.line("");
    t.wait_for("a fresh prompt", |s| {
        s.starts_with(">>> \n>>> Send a message") || s.starts_with(">>>\n>>> Send a message")
    });
    // A `"""` block spans lines; the continuation prompt is `... `, with its own placeholder.
    t.line("\"\"\"");
    t.wait_for("the block placeholder", |s| {
        s.contains("... Use \"\"\" to end multi-line input")
    });
    t.line("Tell me a long story");
    t.wait_for("the continuation prompt", |s| s.contains("... Tell me"));
    // The prompts on screen before the answer (the empty line's may show with or without its
    // trailing space, so it is counted once here rather than assumed).
    let base = prompts(&t.screen());
    t.line("about the sea.\"\"\"");
    // Let the answer stream for a while, then stop it.
    let before = t.wait_for("the answer", |s| {
        s.lines()
            .skip_while(|l| !l.starts_with("... about the sea."))
            .skip(1)
            .any(|l| l.trim().len() > 20)
    });
    // No new prompt while the answer streams.
    assert_eq!(prompts(&before), base, "{before}");
    t.keys(&["C-c"]);
    let after = t.wait_for("a new prompt after Ctrl-C", |s| prompts(s) == base + 1);
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

/// Creates `name` from the test model with extra Modelfile lines.
fn derived(s: &Server, name: &str, lines: &str) {
    let dir = tempdir();
    let path = dir.path().join("Modelfile");
    std::fs::write(&path, format!("FROM {MODEL}\n{lines}")).unwrap();
    let out = s.cli(&["create", name, "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn repl_commands() {
    let s = Server::start();
    derived(
        &s,
        "remembers",
        "MESSAGE user Hi there\nMESSAGE assistant Hello, sailor!\n",
    );
    let t = run_in_tmux(&s, "cmds", MODEL);
    t.wait_for("the prompt", |s| s.contains(">>> "));
    // Each command, then what it must print.
    let steps: &[(&str, &str)] = &[
        ("/?", "  /? shortcuts    Help for keyboard shortcuts"),
        (
            "/? shortcuts",
            "  Ctrl + c            Stop the model from responding",
        ),
        ("/? set", "  /set parameter ...     Set a parameter"),
        (
            "/? show",
            "  /show modelfile    Show Modelfile for this model",
        ),
        ("/set parameter", "Available Parameters:"),
        (
            "/set parameter top_k many",
            "Couldn't set parameter: \"invalid int value [many]\"",
        ),
        (
            "/set parameter temperature 0",
            "Set parameter 'temperature' to '0'",
        ),
        ("/set parameter stop a b", "Set parameter 'stop' to 'a, b'"),
        ("/show parameters", "User defined parameters:"),
        ("/set system \"\"\"You are", "... "),
        ("a pirate.\"\"\"", "Set system message."),
        ("/show system", "You are\na pirate."),
        ("/show template", "<start_of_turn>"),
        ("/show license", "Gemma is provided"),
        (
            "/show modelfile",
            "# Modelfile generated by \"ollama show\"",
        ),
        ("/show info", "    architecture        gemma3"),
        (
            "/show nonsense",
            "Unknown command '/show nonsense'. Type /? for help",
        ),
        ("/set wordwrap", "Set 'wordwrap' mode."),
        ("/set nowordwrap", "Set 'nowordwrap' mode."),
        ("/set verbose", "Set 'verbose' mode."),
        ("/set quiet", "Set 'quiet' mode."),
        (
            "/set format yaml",
            "Invalid or missing format. For 'json' mode use '/set format json'",
        ),
        ("/set format json", "Set format to 'json' mode."),
        ("Say hi.", "\n{"),
        ("/set noformat", "Disabled format."),
        (
            "/set think",
            "warning: model \"gemma3-base:270m\" does not support thinking output",
        ),
        (
            "Hi",
            "error: \"gemma3-base:270m\" does not support thinking",
        ),
        ("/set nothink", "Set 'nothink' mode."),
        (
            "/set bogus",
            "Unknown command '/set bogus'. Type /? for help",
        ),
        ("/bogus", "Unknown command '/bogus'. Type /? for help"),
        ("/list", "gemma3-base:270m    "),
        ("/save bad name!", "Usage:\n  /save <modelname>"),
        ("/save pirate", "Created new model 'pirate'"),
        ("/clear", "Cleared session context"),
        ("/load nope", "Couldn't find model 'nope'"),
        // A model's MESSAGE history is shown when it loads.
        ("/load remembers", ">>> Hi there\nHello, sailor!\n"),
        ("/load pirate", "Loading model 'pirate'"),
    ];
    for (input, want) in steps {
        let before = t.typed_len();
        t.line(input);
        t.wait_for(want, |s| {
            s.get(before..).is_some_and(|new| new.contains(want))
        });
    }
    // The saved model keeps the session's system message and parameters.
    let show = stdout(&s.cli(&["show", "--modelfile", "pirate"]));
    assert!(show.contains("SYSTEM \"You are\na pirate.\""), "{show}");
    assert!(show.contains("PARAMETER temperature 0"), "{show}");
    // An answer with the loaded model, then leave.
    let before = t.typed_len();
    t.line("Hello");
    t.wait_for("the answer and a new prompt", |s| {
        s.get(before..).is_some_and(|new| new.contains(">>> "))
    });
    t.line("/bye");
    let end = t.wait_for("exit", |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}

#[test]
fn run_wraps_words_at_the_terminal_width() {
    let s = Server::start();
    derived(
        &s,
        "steady",
        "PARAMETER temperature 0\nPARAMETER num_predict 80\n",
    );
    let prompt = "Write a paragraph about the history of Rome.";
    let command = |flags: &str| {
        format!(
            "env OLLAMA_HOST={} HOME={} TERM=xterm {BIN} run {flags} steady '{prompt}'; echo EXIT=$?; sleep 600",
            s.host(),
            s.home.display()
        )
    };
    let answer_rows = |t: &Tmux| -> Vec<String> {
        t.wait_for("the answer", |s| s.contains("EXIT=0"));
        t.rows()
            .into_iter()
            .take_while(|r| !r.starts_with("EXIT="))
            .collect()
    };
    // Without wrapping, the terminal breaks lines mid-word at 40 columns.
    let plain = answer_rows(&Tmux::start_sized("nowrap", &command("--nowordwrap"), 40));
    assert!(
        plain.iter().any(|r| r.chars().count() == 40),
        "the answer has lines longer than the terminal: {plain:#?}"
    );
    // With it, every row stays within width - 5, words whole.
    let wrapped = answer_rows(&Tmux::start_sized("wrap", &command(""), 40));
    for row in &wrapped {
        assert!(row.chars().count() <= 35, "{row:?} in {wrapped:#?}");
    }
    // The same words, none cut in two: the unwrapped text is its rows, joined where the
    // terminal broke a full-width row.
    let mut text = String::new();
    for row in &plain {
        text.push_str(row);
        if row.chars().count() < 40 {
            text.push('\n');
        }
    }
    let want: Vec<&str> = text.split_whitespace().collect();
    let joined = wrapped.join("\n");
    let got: Vec<&str> = joined.split_whitespace().collect();
    assert_eq!(got, want);
}
