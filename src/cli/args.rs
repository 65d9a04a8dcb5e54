//! The command line, as clap definitions and nothing else: the doc comments here are the help
//! text and the man pages. Resolution of settings and the work itself live in the subcommand
//! modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Large language model runner: a drop-in replacement for Ollama built on llama.cpp.
#[derive(Debug, Parser)]
#[command(name = "rollama", disable_version_flag = true)]
pub struct Cli {
    /// Show version information
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start rollama
    #[command(alias = "start", after_help = serve_env_help())]
    Serve,
    /// Create a model from a Modelfile
    Create(CreateArgs),
    /// Show information for a model
    Show(ShowArgs),
    /// Run a model
    Run(RunArgs),
    /// Stop a running model
    Stop(StopArgs),
    /// Pull a model from a registry
    Pull(TransferArgs),
    /// Push a model to a registry
    Push(TransferArgs),
    /// List models
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// List running models
    Ps(PsArgs),
    /// Copy a model
    Cp(CpArgs),
    /// Remove a model
    Rm(RmArgs),
}

fn serve_env_help() -> String {
    let mut s = String::from("Environment Variables:\n");
    for (name, doc) in crate::envconfig::VARIABLES {
        s.push_str(&format!("      {name:<24} {doc}\n"));
    }
    s
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name of the model to create
    pub model: String,
    /// Name of the Modelfile
    #[arg(short = 'f', long = "file", default_value = "Modelfile")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Name of the model
    pub model: String,
    /// Show license of a model
    #[arg(long)]
    pub license: bool,
    /// Show Modelfile of a model
    #[arg(long)]
    pub modelfile: bool,
    /// Show parameters of a model
    #[arg(long)]
    pub parameters: bool,
    /// Show template of a model
    #[arg(long)]
    pub template: bool,
    /// Show system message of a model
    #[arg(long)]
    pub system: bool,
    /// Show detailed model information
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Name of the model
    pub model: String,
    /// Prompt; with no prompt and a terminal, an interactive session starts
    pub prompt: Vec<String>,
    /// Duration to keep a model loaded (e.g. 5m)
    #[arg(long)]
    pub keepalive: Option<String>,
    /// Show timings for response
    #[arg(long)]
    pub verbose: bool,
    /// Don't wrap words to the next line automatically
    #[arg(long)]
    pub nowordwrap: bool,
    /// Response format (e.g. json)
    #[arg(long)]
    pub format: Option<String>,
    /// Enable thinking mode: true/false or high/medium/low for supported models
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub think: Option<String>,
    /// Hide thinking output (if provided)
    #[arg(long)]
    pub hidethinking: bool,
    /// Use an insecure registry (when the model must be pulled first)
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Name of the model
    pub model: String,
    /// Use an insecure registry
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only list models whose name starts with this (case-insensitive)
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Models to remove
    #[arg(required = true)]
    pub models: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Name of the model to stop
    pub model: String,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Only list models whose name starts with this
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Name of the model to copy
    pub source: String,
    /// Name of the copy
    pub destination: String,
}
