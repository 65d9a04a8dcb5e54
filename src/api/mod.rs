//! The wire: request/response types mirroring Ollama's JSON ([`types`]), the option table and
//! its typing rules ([`options`]), and the REST client ([`client`]). `types` and `options` are
//! leaves every other module may use.

pub mod client;
pub mod options;
pub mod types;
