//! `rollama serve`: the one subcommand that runs the server instead of calling it.

use super::CliError;
use crate::envconfig::Config;

pub async fn serve(config: Config) -> Result<(), CliError> {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    crate::server::serve(config)
        .await
        .map_err(|e| CliError(e.to_string()))
}
