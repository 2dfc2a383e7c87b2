//! `ticketctl list` and `ticketctl show`: what agents and customers see.

use std::collections::BTreeSet;
use std::io::IsTerminal;

use clap::Args;
use serde_json::{Value, json};
use ticketcore::{Actor, Article, Desk, Event, StateType, Ticket, TicketQuery};

use crate::table;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

/// Tickets fetched per store query while listing.
const PAGE: usize = 200;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this queue (repeatable).
    #[arg(long, value_name = "QUEUE")]
    queue: Vec<String>,
    /// Only this state type (repeatable): new, open, pending_reminder,
    /// pending_auto_close_successful, pending_auto_close_unsuccessful, closed_successful,
    /// closed_unsuccessful, merged, removed.
    #[arg(long = "state-type", value_name = "TYPE", value_parser = state_type)]
    state_type: Vec<StateType>,
    /// Only what this agent may see.
    #[arg(long = "as", value_name = "AGENT")]
    agent: Option<String>,
    /// At most this many tickets.
    #[arg(long)]
    limit: Option<usize>,
    /// A JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Ticket number.
    number: String,
    /// As this agent sees it.
    #[arg(long = "as", value_name = "AGENT", conflicts_with = "customer")]
    agent: Option<String>,
    /// As this customer sees it (internal articles absent).
    #[arg(long, value_name = "LOGIN")]
    customer: Option<String>,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn state_type(text: &str) -> Result<StateType, String> {
    serde_json::from_value(Value::String(text.replace([' ', '-'], "_")))
        .map_err(|_| format!("unknown state type {text:?}"))
}

/// The actor an `--as AGENT` names, refusing logins the configuration does not know.
pub async fn agent(desk: &Desk, login: &str) -> Result<Actor, Failure> {
    let config = desk.config().await?;
    match config.agent(login) {
        Some(_) => Ok(Actor::agent(login)),
        None => Err(Failure::failed(format!(
            "no agent {login:?} in the configuration"
        ))),
    }
}

/// Every ticket of the queue view `actor` may see, in queue-view order.
pub async fn tickets(
    desk: &Desk,
    actor: &Actor,
    mut query: TicketQuery,
    limit: Option<usize>,
) -> Result<Vec<Ticket>, Failure> {
    let limit = limit.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    loop {
        query.limit = PAGE.min(limit - out.len());
        let page = desk.queue_view(actor, query.clone()).await?;
        out.extend(page.tickets);
        match page.next {
            Some(next) if out.len() < limit => query.after = Some(next),
            _ => return Ok(out),
        }
    }
}

/// A ticket as the JSON of `list` (and the head of `show`).
pub fn row(ticket: &Ticket) -> Value {
    json!({
        "number": ticket.number,
        "title": ticket.title,
        "queue": ticket.queue,
        "state": ticket.state,
        "state_type": ticket.state_type,
        "priority": ticket.priority.get(),
        "locked_by": ticket.lock.holder(),
        "owner": ticket.owner,
        "customer": ticket.customer,
        "escalation_due": ticket.escalation.due(),
    })
}

pub async fn list(access: &Access, args: ListArgs) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = match &args.agent {
        Some(login) => agent(&desk, login).await?,
        None => Actor::System,
    };
    let query = TicketQuery {
        queues: (!args.queue.is_empty()).then(|| args.queue.iter().cloned().collect()),
        state_types: (!args.state_type.is_empty())
            .then(|| args.state_type.iter().copied().collect::<BTreeSet<_>>()),
        ..TicketQuery::default()
    };
    let tickets = tickets(&desk, &actor, query, args.limit).await?;
    if args.json {
        let rows: Vec<Value> = tickets.iter().map(row).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", queue_table(&tickets));
        if std::io::stdout().is_terminal() {
            println!("{} tickets", tickets.len());
        }
    }
    Ok(0)
}

/// The queue view as a table.
pub fn queue_table(tickets: &[Ticket]) -> String {
    let rows: Vec<Vec<String>> = tickets
        .iter()
        .map(|t| {
            vec![
                t.number.to_string(),
                t.priority.get().to_string(),
                t.state.clone(),
                t.queue.clone(),
                t.lock.holder().unwrap_or("-").to_string(),
                t.owner.clone().unwrap_or_else(|| "-".into()),
                t.customer.clone().unwrap_or_else(|| "-".into()),
                t.escalation
                    .due()
                    .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "-".into()),
                t.title.clone(),
            ]
        })
        .collect();
    table::render(
        &[
            "NUMBER",
            "PRIO",
            "STATE",
            "QUEUE",
            "LOCKED",
            "OWNER",
            "CUSTOMER",
            "ESCALATES",
            "TITLE",
        ],
        &rows,
    )
}

fn article(a: &Article) -> Value {
    json!({
        "sender": a.sender,
        "channel": a.channel,
        "visible_to_customer": a.visible_to_customer,
        "from": a.from,
        "to": a.to,
        "subject": a.subject,
        "body": a.body,
        "message_id": a.message_id,
        "created": a.created,
        "attachments": a.attachments.iter().map(|f| json!({
            "name": f.name,
            "content_type": f.content_type,
            "size": f.size,
        })).collect::<Vec<_>>(),
    })
}

fn history(e: &Event) -> Value {
    json!({
        "type": e.kind.history_type(),
        "actor": e.actor,
        "at": e.at,
    })
}

pub async fn show(access: &Access, args: ShowArgs) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = match (&args.agent, &args.customer) {
        (Some(login), _) => agent(&desk, login).await?,
        (None, Some(login)) => Actor::customer(login),
        (None, None) => Actor::System,
    };
    let ticket = desk.find(&actor, &args.number).await?;
    let articles = desk.articles(&actor, ticket.id).await?;
    let events = desk.history(&actor, ticket.id).await?;
    if args.json {
        let mut doc = row(&ticket);
        doc["created"] = json!(ticket.created);
        doc["changed"] = json!(ticket.changed);
        doc["articles"] = articles.iter().map(article).collect();
        doc["history"] = events.iter().map(history).collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    println!("{} {}", ticket.number, ticket.title);
    println!(
        "queue {} · state {} · priority {} · locked by {} · owner {} · customer {}",
        ticket.queue,
        ticket.state,
        ticket.priority.get(),
        ticket.lock.holder().unwrap_or("-"),
        ticket.owner.as_deref().unwrap_or("-"),
        ticket.customer.as_deref().unwrap_or("-"),
    );
    for a in &articles {
        let visibility = if a.visible_to_customer {
            ""
        } else {
            " (internal)"
        };
        println!(
            "\n--- {} {:?} by {:?}{visibility}, {}",
            a.created.format("%Y-%m-%d %H:%M"),
            a.channel,
            a.sender,
            a.from
        );
        println!("Subject: {}\n\n{}", a.subject, a.body.trim_end());
        for f in &a.attachments {
            println!(
                "[attachment {} ({}, {} bytes)]",
                f.name, f.content_type, f.size
            );
        }
    }
    println!("\nHistory:");
    for e in &events {
        println!(
            "  {}  {:<20} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.kind.history_type(),
            e.actor
        );
    }
    Ok(0)
}
