//! The `rollama` binary: parse arguments, set up logging, run the subcommand, and turn a failure
//! into `Error: <message>` on stderr with exit code 1. A closed stdout (`rollama list | head`)
//! ends quietly with 0.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use rollama::cli::{self, args::Cli};
use rollama::envconfig::{Config, LogLevel};

fn main() -> ExitCode {
    // `rollama runner`: a model runner started by `rollama serve` (see `engine::process`). Not a
    // clap subcommand, so it stays out of the help, completions and man pages.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == "runner") && args.next().is_none() {
        return runner();
    }
    let cli = Cli::parse();
    let config = Config::from_env();
    let serving = matches!(cli.command, Some(cli::args::Command::Serve));
    init_logging(&config, serving);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::run(cli, config));
    // Do not wait for blocking tasks (a REPL read, an upload) that no longer matter.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runner() -> ExitCode {
    // It logs like the server it belongs to: its stderr is the server's.
    init_logging(&Config::from_env(), true);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(rollama::engine::process::runner_main()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("model runner: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr. The server logs at INFO (DEBUG/TRACE with `OLLAMA_DEBUG`), llama.cpp's own
/// chatter only at WARN unless debugging; client commands only show warnings.
fn init_logging(config: &Config, serving: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = match (serving, config.log_level) {
        (false, _) => LevelFilter::WARN,
        (true, LogLevel::Info) => LevelFilter::INFO,
        (true, LogLevel::Debug) => LevelFilter::DEBUG,
        (true, LogLevel::Trace) => LevelFilter::TRACE,
    };
    let llama = if config.log_level == LogLevel::Info {
        LevelFilter::WARN
    } else {
        level
    };
    let filter = Targets::new()
        .with_default(level)
        .with_target("llama-cpp-2", llama)
        .with_target("hyper", LevelFilter::WARN)
        .with_target("reqwest", LevelFilter::WARN);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && !config.no_color)
                .with_target(false),
        )
        .with(filter)
        .try_init();
}
