//! The one integration-test binary: the real `rollama` binary, the real llama.cpp engine and the
//! real gemma3 270M model (fetched by `scripts/fetch-model.sh`). See `harness.rs`.
#![allow(clippy::unwrap_used)]

mod harness;

mod adapter;
mod chat;
mod cli;
mod clients;
mod docs;
mod embed;
mod errors;
mod format;
mod generate;
mod hostile;
mod jinja;
mod lifecycle;
mod models;
mod protocols;
mod registry;
mod repl;
mod runner;
mod sched;
mod security;
mod service;
mod speed;
mod store;
mod stream_errors;
mod tools;
mod vision;
