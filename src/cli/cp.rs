//! `rollama cp SOURCE DESTINATION`.

use super::args::CpArgs;
use super::{CliError, out};
use crate::api::client::Client;

pub async fn cp(client: &Client, args: CpArgs) -> Result<(), CliError> {
    client.copy(&args.source, &args.destination).await?;
    out(&format!(
        "copied '{}' to '{}'\n",
        args.source, args.destination
    ))
}
