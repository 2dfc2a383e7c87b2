//! `ticketctl init`: configuration as code.

use std::path::Path;

use ticketcore::Config;

use ticketcore_app::Access;
use ticketcore_app::failure::{FAILED, Failure};

/// Reads and validates a configuration file; the error names the file and line.
pub fn read_config(path: &Path) -> Result<Config, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
    Config::from_toml(&text).map_err(|e| {
        let mut failure = Failure::from(ticketcore::Error::Config(e));
        failure.message = format!(
            "{}: {} (fix the file and run `ticketctl init --config {}` again)",
            path.display(),
            failure.message,
            path.display()
        );
        failure.code = FAILED;
        failure
    })
}

pub async fn run(access: &Access, path: &Path) -> Result<u8, Failure> {
    let config = read_config(path)?;
    let summary = format!(
        "{} queues, {} agents, {} customers, {} templates, {} filters",
        config.queues.len(),
        config.agents.len(),
        config.customers.len(),
        config.templates.len(),
        config.filters.len()
    );
    let desk = access.desk().await?;
    let version = desk.configure(config).await?;
    println!(
        "{}: loaded as configuration version {version} ({summary})",
        path.display()
    );
    Ok(0)
}
