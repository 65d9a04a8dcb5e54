//! Issue 11: running as a service. The unit `install.sh --systemd` installs, checked by
//! `systemd-analyze verify` (Debian's `systemd`, which scripts/test.sh installs); the script's
//! own help; the start-up log line a journal shows.

use std::process::Command;

use crate::harness::*;

const ANALYZE: &str = "/usr/bin/systemd-analyze";

fn unit(prefix: &std::path::Path) -> String {
    let out = Command::new(repo().join("install.sh"))
        .arg("--print-unit")
        .env("PREFIX", prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn the_service_unit_is_hardened_and_verifies() {
    assert!(
        std::path::Path::new(ANALYZE).exists(),
        "{ANALYZE} is needed: apt-get install systemd (scripts/test.sh installs it)"
    );
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(BIN, dir.path().join("bin/rollama")).unwrap();
    let text = unit(dir.path());
    for line in [
        format!("ExecStart={}/bin/rollama serve", dir.path().display()),
        "User=rollama".into(),
        "NoNewPrivileges=yes".into(),
        "ProtectSystem=strict".into(),
        "ProtectHome=yes".into(),
        "PrivateTmp=yes".into(),
        "ReadWritePaths=/var/lib/rollama".into(),
        "Environment=OLLAMA_MODELS=/var/lib/rollama/models".into(),
        "Restart=always".into(),
        "ExecReload=/bin/kill -HUP $MAINPID".into(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let path = dir.path().join("rollama.service");
    std::fs::write(&path, &text).unwrap();
    // --man=no: the man page is installed beside the binary by install.sh, not here.
    let verify = |p: &std::path::Path| {
        Command::new(ANALYZE)
            .args(["verify", "--man=no"])
            .arg(p)
            .output()
            .unwrap()
    };
    let out = verify(&path);
    assert!(
        out.status.success() && stderr(&out).is_empty(),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The check is real: a unit whose binary is missing fails it.
    let broken = dir.path().join("broken.service");
    std::fs::write(
        &broken,
        text.replace("/bin/rollama serve", "/bin/missing serve"),
    )
    .unwrap();
    assert!(!verify(&broken).status.success());
}

#[test]
fn install_sh_documents_every_flag() {
    let script = std::fs::read_to_string(repo().join("install.sh")).unwrap();
    let out = Command::new(repo().join("install.sh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = stdout(&out);
    let flags: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().split_once(") "))
        .map(|(pat, _)| pat)
        .filter(|p| p.starts_with("--") || p.starts_with("-h"))
        .flat_map(|p| p.split('|'))
        .collect();
    assert!(flags.len() >= 7, "{flags:?}");
    for f in flags {
        assert!(help.contains(f), "{f} is not in --help:\n{help}");
    }
    let out = Command::new(repo().join("install.sh"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "Error: unknown option --bogus (see --help)\n");
}

#[test]
fn start_up_logs_every_setting_but_no_key() {
    let s = Server::start_env(&[
        ("ROLLAMA_API_KEYS", "secret-one,inference:secret-two"),
        ("OLLAMA_KEEP_ALIVE", "10m"),
    ]);
    let log = s.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("server config: "))
        .expect("a server config line");
    for want in [
        "OLLAMA_HOST=",
        "OLLAMA_MODELS=",
        "OLLAMA_KEEP_ALIVE=Duration(600s)",
        "OLLAMA_CONTEXT_LENGTH=4096",
        "OLLAMA_NUM_PARALLEL=4",
        "OLLAMA_MAX_LOADED_MODELS=3",
        "OLLAMA_MAX_QUEUE=512",
        "OLLAMA_DEBUG=",
        "OLLAMA_NOPRUNE=false",
        "OLLAMA_FLASH_ATTENTION=auto",
        "OLLAMA_ORIGINS=",
        "ROLLAMA_API_KEYS=(2 keys)",
        "ROLLAMA_SHUTDOWN_GRACE=10s",
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    assert!(!log.contains("secret-"), "a key was logged:\n{log}");
    assert!(log.contains("Listening on 127.0.0.1:"), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes for the journal");
}

async fn metrics_text(s: &Server) -> String {
    let r = http().get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

/// The value of a sample line `name value`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_tokens_loads_and_crashes() {
    let s = Server::start();
    let body = |stream: bool| {
        serde_json::json!({"model": MODEL, "prompt": "Once upon a time", "stream": stream,
                           "options": {"num_predict": 5, "temperature": 0}})
    };
    let (status, r) = post(&s, "/api/generate", body(false)).await;
    assert_eq!(status, 200, "{r}");
    let lines = post_stream(&s, "/api/generate", body(true)).await;
    assert_eq!(lines.last().unwrap()["done"], true);
    let (status, _) = post(&s, "/api/show", serde_json::json!({"model": "nope"})).await;
    assert_eq!(status, 404);

    let text = metrics_text(&s).await;
    assert_eq!(
        sample(
            &text,
            "rollama_requests_total{route=\"/api/generate\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "rollama_requests_total{route=\"/api/show\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(sample(&text, "rollama_generated_tokens_total"), 10.0);
    assert!(sample(&text, "rollama_prompt_tokens_total") >= 6.0);
    assert_eq!(
        sample(&text, "rollama_time_to_first_token_seconds_count"),
        2.0
    );
    assert_eq!(
        sample(&text, "rollama_generation_tokens_per_second_count"),
        2.0
    );
    assert_eq!(sample(&text, "rollama_model_load_seconds_count"), 1.0);
    assert_eq!(sample(&text, "rollama_loaded_models"), 1.0);
    assert_eq!(sample(&text, "rollama_queue_depth"), 0.0);
    assert_eq!(sample(&text, "rollama_runner_crashes_total"), 0.0);

    // A runner killed under the server is counted.
    for pid in s.runners() {
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = metrics_text(&s).await;
        if sample(&text, "rollama_runner_crashes_total") == 1.0 {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no crash counted:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    // promtool (Debian's prometheus, which scripts/test.sh installs) accepts the format.
    let promtool = std::path::Path::new("/usr/bin/promtool");
    assert!(
        promtool.exists(),
        "promtool is needed: apt-get install prometheus (scripts/test.sh installs it)"
    );
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn install_sh_installs_twice_and_uninstalls_what_it_installed() {
    // The uninstall would also remove a real service of this machine; never run it there.
    let unit = std::path::Path::new("/etc/systemd/system/rollama.service");
    assert!(
        !unit.exists(),
        "this machine runs rollama.service; the test would uninstall it"
    );
    let prefix = tempdir();
    let run = |args: &[&str]| {
        // The flags this test binary was built with, so install.sh's build is the one done.
        let out = Command::new(repo().join("install.sh"))
            .args(args)
            .env("PREFIX", prefix.path())
            .env("RUSTFLAGS", std::env::var("RUSTFLAGS").unwrap_or_default())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "install.sh {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    };
    let installed = [
        "bin/rollama",
        "share/bash-completion/completions/rollama",
        "share/zsh/site-functions/_rollama",
        "share/fish/vendor_completions.d/rollama.fish",
        "share/man/man1/rollama.1",
    ];
    for _ in 0..2 {
        run(&["--no-model"]);
        for f in installed {
            assert!(prefix.path().join(f).is_file(), "{f} installed");
        }
    }
    let out = Command::new(prefix.path().join("bin/rollama"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    run(&["--uninstall"]);
    for f in installed {
        assert!(!prefix.path().join(f).exists(), "{f} removed");
    }
    run(&["--uninstall"]);
}
