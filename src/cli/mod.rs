//! The command line: [`args`] holds the clap definitions, each subcommand has its module, and
//! [`run`] dispatches. Every subcommand but `serve` is a thin client of a running server over
//! [`crate::api::client`]; only `serve.rs` touches the server. The CLI never imports the engine,
//! scheduler or blob store.

pub mod args;
pub mod cp;
pub mod create;
pub mod display;
pub mod format;
pub mod images;
pub mod list;
pub mod placeholder;
pub mod progress;
pub mod ps;
pub mod repl;
pub mod rm;
pub mod run;
pub mod serve;
pub mod show;
pub mod stats;
pub mod transfer;

use crate::api::client::{Client, ClientError};
use crate::envconfig::Config;
use args::{Cli, Command};

/// A failure the CLI reports as `Error: <message>` on stderr with exit code 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        CliError(e.to_string())
    }
}

/// The message of a write to a closed stdout; `main` exits 0 quietly on it.
const BROKEN_PIPE: &str = "broken pipe";

impl CliError {
    pub fn is_broken_pipe(&self) -> bool {
        self.0 == BROKEN_PIPE
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError(BROKEN_PIPE.to_string())
        } else {
            CliError(e.to_string())
        }
    }
}

/// Writes command output (data) to stdout; unlike `print!`, a closed pipe is an error value,
/// not a panic.
pub fn out(s: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(s.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

pub async fn run(cli: Cli, config: Config) -> Result<(), CliError> {
    let client = Client::new(config.host.base_url(), config.api_key.as_deref());
    if cli.version {
        return version(&client).await;
    }
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return Ok(());
    };
    if !matches!(command, Command::Serve) {
        heartbeat(&client).await?;
    }
    match command {
        Command::Serve => serve::serve(config).await,
        Command::Create(a) => create::create(&client, a).await,
        Command::Show(a) => show::show(&client, a).await,
        Command::Run(a) => run::run(&client, a, &config).await,
        Command::List(a) => list::list(&client, a).await,
        Command::Rm(a) => rm::rm(&client, a).await,
        Command::Ps(a) => ps::ps(&client, a).await,
        Command::Stop(a) => ps::stop(&client, a).await,
        Command::Cp(a) => cp::cp(&client, a).await,
        Command::Pull(a) => transfer::pull(&client, &a.model, a.insecure).await,
        Command::Push(a) => transfer::push(&client, &a.model, a.insecure).await,
    }
}

/// `HEAD /` before any client command. A server started a moment ago (`rollama serve &
/// rollama run ...`) gets one second to start listening before the connection error stands.
async fn heartbeat(client: &Client) -> Result<(), CliError> {
    let mut tries = 0;
    loop {
        match client.heartbeat().await {
            Err(ClientError::Connect) if tries < 10 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other.map_err(CliError::from),
        }
    }
}

/// `rollama -v`: the server's version, and the client's when it differs.
async fn version(client: &Client) -> Result<(), CliError> {
    let mine = env!("CARGO_PKG_VERSION");
    match client.version().await {
        Ok(v) => {
            out(&format!("rollama version is {v}\n"))?;
            if v != mine {
                eprintln!("Warning: client version is {mine}");
            }
        }
        Err(_) => {
            eprintln!("Warning: could not connect to a running rollama instance");
            eprintln!("Warning: client version is {mine}");
        }
    }
    Ok(())
}
