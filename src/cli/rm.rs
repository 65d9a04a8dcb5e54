//! `rollama rm MODEL...`: unload, then delete each model, stopping at the first failure.

use super::args::RmArgs;
use super::{CliError, out};
use crate::api::client::Client;
use crate::api::types::GenerateRequest;
use crate::duration::KeepAlive;

pub async fn rm(client: &Client, args: RmArgs) -> Result<(), CliError> {
    for name in &args.models {
        let unload = GenerateRequest {
            model: name.clone(),
            keep_alive: Some(KeepAlive::Duration(std::time::Duration::ZERO)),
            ..GenerateRequest::default()
        };
        match client.generate(&unload).await {
            Ok(mut s) => while futures_util::StreamExt::next(&mut s).await.is_some() {},
            Err(e) if e.status() == Some(404) => {}
            Err(_) => eprintln!("Warning: unable to stop model '{name}'"),
        }
        client.delete(name).await?;
        out(&format!("deleted '{name}'\n"))?;
    }
    Ok(())
}
