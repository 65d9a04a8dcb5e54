//! Completions (`completions/`) and man pages (`man/`) are generated from the clap definition
//! and committed; this test fails when they drift from the code. Refresh them with
//! `ROLLAMA_UPDATE_DOCS=1 cargo test --release --test it docs`.

use std::collections::BTreeMap;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use rollama::cli::args::Cli;

use crate::harness::repo;

fn generated() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (shell, name) in [
        (Shell::Bash, "rollama.bash"),
        (Shell::Zsh, "_rollama"),
        (Shell::Fish, "rollama.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "rollama", &mut buf);
        files.insert(format!("completions/{name}"), buf);
    }
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf).unwrap();
    files.insert("man/rollama.1".to_string(), buf);
    for sub in cmd.get_subcommands() {
        let name = format!("rollama-{}", sub.get_name());
        let leaked: &'static str = Box::leak(name.clone().into_boxed_str());
        let sub = sub.clone().name(leaked);
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub).render(&mut buf).unwrap();
        files.insert(format!("man/{name}.1"), buf);
    }
    files
}

#[test]
fn completions_and_man_pages_match_the_cli() {
    let root = repo();
    let update = std::env::var_os("ROLLAMA_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (rel, content) in generated() {
        let path = root.join(&rel);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &content).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&content[..]) {
            stale.push(rel);
        }
    }
    // No leftover pages for commands that no longer exist.
    let expected: Vec<String> = generated().into_keys().collect();
    for dir in ["completions", "man"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let rel = format!("{dir}/{}", e.file_name().to_string_lossy());
            if !expected.contains(&rel) && Path::new(&rel).extension().is_some_and(|x| x != "md") {
                stale.push(format!("{rel} (not generated any more)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files, run ROLLAMA_UPDATE_DOCS=1 cargo test --release --test it docs: {stale:?}"
    );
}
