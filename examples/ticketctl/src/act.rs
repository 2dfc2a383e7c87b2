//! Agent actions: each one operation of the Desk as the agent `--as` names, refused with
//! exit status 1 when permissions, locks or state rules say no.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ticketcore::{Actor, Channel, Committed, Config, Desk, Message, NewTicket, Priority, Ticket};
use ticketcore_mail::{Outbox, transport};

use crate::view::agent;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

/// The desk, the acting agent and the ticket a command names.
pub async fn target(
    access: &Access,
    login: &str,
    number: &str,
) -> Result<(Arc<Desk>, Actor, Ticket), Failure> {
    let desk = access.desk().await?;
    let actor = agent(&desk, login).await?;
    let ticket = desk.find(&actor, number).await?;
    Ok((desk, actor, ticket))
}

pub fn done(committed: &Committed, what: &str) -> Result<u8, Failure> {
    let t = &committed.ticket;
    let unchanged = if committed.events.is_empty() {
        " (nothing to change)"
    } else {
        ""
    };
    println!("{}: {what}{unchanged}", t.number);
    Ok(0)
}

pub async fn lock(access: &Access, login: &str, number: &str) -> Result<u8, Failure> {
    let (desk, actor, ticket) = target(access, login, number).await?;
    done(
        &desk.lock(&actor, ticket.id).await?,
        &format!("locked by {login}"),
    )
}

pub async fn unlock(access: &Access, login: &str, number: &str) -> Result<u8, Failure> {
    let (desk, actor, ticket) = target(access, login, number).await?;
    done(&desk.unlock(&actor, ticket.id).await?, "unlocked")
}

pub async fn move_to(
    access: &Access,
    login: &str,
    number: &str,
    queue: &str,
) -> Result<u8, Failure> {
    let (desk, actor, ticket) = target(access, login, number).await?;
    let committed = desk.move_ticket(&actor, ticket.id, queue).await?;
    done(&committed, &format!("moved to {queue}"))
}

pub async fn state(
    access: &Access,
    login: &str,
    number: &str,
    state: &str,
    pending_until: Option<DateTime<Utc>>,
) -> Result<u8, Failure> {
    let (desk, actor, ticket) = target(access, login, number).await?;
    let committed = desk
        .set_state(&actor, ticket.id, state, pending_until)
        .await?;
    let until = pending_until
        .map(|t| format!(" until {}", t.to_rfc3339()))
        .unwrap_or_default();
    done(&committed, &format!("state {state}{until}"))
}

pub async fn priority(
    access: &Access,
    login: &str,
    number: &str,
    priority: u8,
) -> Result<u8, Failure> {
    let priority = Priority::new(priority).map_err(|e| Failure::usage(e.to_string()))?;
    let (desk, actor, ticket) = target(access, login, number).await?;
    let committed = desk.set_priority(&actor, ticket.id, priority).await?;
    done(&committed, &format!("priority {}", priority.get()))
}

pub async fn owner(access: &Access, login: &str, number: &str, owner: &str) -> Result<u8, Failure> {
    let (desk, actor, ticket) = target(access, login, number).await?;
    let committed = desk.set_owner(&actor, ticket.id, Some(owner)).await?;
    done(&committed, &format!("owned by {owner}"))
}

pub async fn note(
    access: &Access,
    login: &str,
    number: &str,
    text: String,
    notify: &[String],
    visible_to_customer: bool,
) -> Result<u8, Failure> {
    let (desk, actor, ticket) = target(access, login, number).await?;
    let notify: Vec<&str> = notify.iter().map(String::as_str).collect();
    let committed = desk
        .note(
            &actor,
            ticket.id,
            Message::text(text),
            visible_to_customer,
            &notify,
        )
        .await?;
    done(&committed, "note added")
}

pub async fn reply(
    access: &Access,
    login: &str,
    number: &str,
    text: Option<String>,
    template: Option<&str>,
) -> Result<u8, Failure> {
    let (desk, actor, ticket) = target(access, login, number).await?;
    let config = desk.config().await?;
    let mut message = match template {
        Some(name) => ticketcore_app::answer::from_template(&desk, &actor, &ticket, name)
            .await
            .map_err(|e| match e {
                ticketcore::Error::NotFound(_) => {
                    Failure::failed(format!("no template {name:?} in the configuration"))
                }
                e => e.into(),
            })?,
        None => Message::default(),
    };
    if let Some(text) = text {
        if !message.body.is_empty() && !message.body.ends_with('\n') {
            message.body.push('\n');
        }
        if !message.body.is_empty() {
            message.body.push('\n');
        }
        message.body.push_str(&text);
    }
    let committed = desk.reply(&actor, ticket.id, message).await?;
    let sent = deliver(&desk, &config).await?;
    done(&committed, &format!("reply {sent}"))
}

/// Sends what waits in the outbox through the configured transport, saying what became of
/// an answer just recorded.
pub async fn deliver(desk: &Arc<Desk>, config: &Config) -> Result<String, Failure> {
    Ok(match &config.mail.outbound {
        None => "recorded; no [mail] outbound transport is configured, so it waits in the outbox"
            .to_string(),
        Some(url) => {
            let transport = transport::open(url)?;
            let report = Outbox::new(desk.clone(), transport.into())
                .run_once()
                .await?;
            if report.waiting {
                format!("recorded; {url} refused it for now, `ticketctl tick` retries")
            } else {
                format!("sent through {url}")
            }
        }
    })
}

pub async fn create(
    access: &Access,
    login: &str,
    queue: String,
    title: String,
    customer: String,
    text: String,
) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = agent(&desk, login).await?;
    let mut input = NewTicket::new(queue, title, Channel::Phone, Message::text(text));
    input.customer = Some(customer);
    let committed = desk.create_ticket(&actor, input).await?;
    let queue = committed.ticket.queue.clone();
    done(&committed, &format!("created in {queue}"))
}
