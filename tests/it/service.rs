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
        "OLLAMA_NUM_PARALLEL=1",
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
