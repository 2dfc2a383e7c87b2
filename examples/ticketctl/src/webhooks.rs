//! `ticketctl webhooks`: the desk's `[[webhooks]]`, where each stands (cursor, delivered,
//! failures, paused or disabled, the last error), and `resume` for one that was paused.

use clap::Subcommand;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;
use ticketcore_app::webhook::Webhooks;

use crate::table;

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// List the webhooks and their state.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Go on with a paused or disabled webhook; the next round tries at once.
    Resume {
        /// The webhook's name.
        name: String,
    },
}

pub async fn run(access: &Access, command: Option<WebhookCommand>) -> Result<u8, Failure> {
    let hooks = Webhooks::new(access.desk().await?)?;
    match command.unwrap_or(WebhookCommand::List { json: false }) {
        WebhookCommand::List { json } => {
            let statuses = hooks.statuses().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&statuses)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = statuses
                .iter()
                .map(|h| {
                    let state = match (&h.state.disabled, &h.state.paused) {
                        (true, _) => "disabled (410)",
                        (_, true) => "paused",
                        _ if h.state.failures > 0 => "retrying",
                        _ => "active",
                    };
                    vec![
                        h.name.clone(),
                        state.to_string(),
                        h.cursor.to_string(),
                        h.state.delivered.to_string(),
                        h.state.failures.to_string(),
                        h.state.last_error.clone().unwrap_or_default(),
                        h.url.clone(),
                    ]
                })
                .collect();
            let head = [
                "NAME",
                "STATE",
                "CURSOR",
                "DELIVERED",
                "FAILURES",
                "LAST ERROR",
                "URL",
            ];
            print!("{}", table::render(&head, &rows));
            Ok(0)
        }
        WebhookCommand::Resume { name } => {
            hooks.resume(&name).await?;
            println!("webhook {name:?} resumed; the resident's next round posts what waits");
            Ok(0)
        }
    }
}
