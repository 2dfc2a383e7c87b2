//! `ticketctl search` and `ticketctl reindex`: the desk's full-text search as an agent, a
//! customer or the system finds things, and the rebuild of its index.

use std::io::IsTerminal;

use clap::Args;
use ticketcore::{Actor, Found, Paging};

use crate::table;
use crate::view::agent;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to find: words (inflected forms count), "quoted phrases", -word to exclude,
    /// filters queue:, state:, owner:, customer:, from:, created:>2026-01-01.
    query: String,
    /// Only what this agent may see.
    #[arg(long = "as", value_name = "AGENT", conflicts_with = "customer")]
    agent: Option<String>,
    /// Only what this customer may see (never their internal notes).
    #[arg(long, value_name = "LOGIN")]
    customer: Option<String>,
    /// At most this many tickets, best first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// A JSON array of {"number","title","queue","state","customer","snippet"} instead of a
    /// table.
    #[arg(long)]
    json: bool,
}

pub async fn run(access: &Access, args: SearchArgs) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = match (&args.agent, &args.customer) {
        (Some(login), _) => agent(&desk, login).await?,
        (None, Some(login)) => Actor::customer(login),
        (None, None) => Actor::System,
    };
    let mut found: Vec<Found> = Vec::new();
    let mut paging = Paging {
        after: None,
        limit: args.limit.clamp(1, ticketcore::finding::MAX_PAGE),
    };
    while found.len() < args.limit {
        let results = desk.search(&actor, &args.query, paging).await?;
        found.extend(results.hits);
        match results.next {
            Some(next) => paging.after = Some(next),
            None => break,
        }
    }
    found.truncate(args.limit);
    if args.json {
        let rows: Vec<_> = found.iter().map(Found::row).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    let terminal = std::io::stdout().is_terminal();
    let (open, close) = table::marks(terminal);
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|f| {
            vec![
                f.ticket.number.to_string(),
                f.ticket.queue.clone(),
                f.ticket.state.clone(),
                f.ticket.title.clone(),
                f.snippet.marked(open, close),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["NUMBER", "QUEUE", "STATE", "TITLE", "MATCH"], &rows)
    );
    if terminal {
        println!("{} tickets", found.len());
    }
    Ok(0)
}

pub async fn reindex(access: &Access) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let count = desk.reindex(&Actor::System).await?;
    println!("indexed {count} tickets");
    Ok(0)
}
