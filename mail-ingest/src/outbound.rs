//! Outgoing mail: an answer or auto-response article of a ticket as an RFC 5322 message. It
//! leaves from the queue's system address, carries the ticket hook in the subject and the
//! threading headers that bring the customer's reply back to the ticket; auto-responses are
//! marked `Auto-Submitted: auto-replied` and `X-Loop`, so no other system answers them.
//! Agent notifications leave the same way, from templates, marked `auto-generated`.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use ticketcore::acl::Agent;
use ticketcore::notify::Reason;
use ticketcore::{Actor, Article, Config, Desk, Sender, Ticket};

use crate::MailError;
use crate::inbound::addresses_in;
use crate::template::Variables;

/// A composed mail and its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Envelope sender; `None` is the null sender `<>`, used for auto-responses so that a
    /// failure notice never comes back to answer (RFC 3834).
    pub envelope_from: Option<String>,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// Its Message-ID (no brackets).
    pub message_id: String,
    /// The message.
    pub raw: Vec<u8>,
}

/// A recipient list entry: a customer login (looked up) or a written address.
async fn resolve(desk: &Desk, list: &str) -> Result<Vec<(Option<String>, String)>, MailError> {
    let mut out = Vec::new();
    for entry in list
        .split([',', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if entry.contains('@') {
            let name = entry
                .split_once('<')
                .map(|(n, _)| n.trim().trim_matches('"').to_string())
                .filter(|n| !n.is_empty());
            for address in addresses_in(entry) {
                out.push((name.clone(), address));
            }
        } else if let Some(customer) = desk.customer(&Actor::System, entry).await?
            && !customer.email.is_empty()
        {
            out.push((Some(customer.name), customer.email));
        }
    }
    Ok(out)
}

fn address(name: Option<String>, email: String) -> Address<'static> {
    match name {
        Some(name) => Address::from((name, email)),
        None => Address::from(email),
    }
}

/// The address mail about `ticket` leaves from: its queue's system address.
fn sender(config: &Config, ticket: &Ticket) -> Result<String, MailError> {
    let system = config.system_address(&ticket.queue).ok_or_else(|| {
        MailError::Transport(format!(
            "queue {:?} has no system address to send from",
            ticket.queue
        ))
    })?;
    Ok(addresses_in(system)
        .into_iter()
        .next()
        .unwrap_or_else(|| system.to_string()))
}

/// An agent's name as mail shows it: the configured name, else the login.
fn agent_name(config: &Config, login: &str) -> String {
    config
        .agent(login)
        .map(|a| a.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| login.to_string())
}

/// Composes `article` of `ticket` (an agent's answer or an auto-response) for sending.
pub async fn compose(
    desk: &Desk,
    config: &Config,
    ticket: &Ticket,
    article: &Article,
) -> Result<Outgoing, MailError> {
    let system = sender(config, ticket)?;
    let sender_name = match &article.author {
        Actor::Agent(login) => agent_name(config, login),
        _ => ticket.queue.clone(),
    };
    let to = resolve(desk, &article.to).await?;
    let cc = resolve(desk, &article.cc).await?;
    if to.is_empty() {
        return Err(MailError::Transport(format!(
            "ticket {}: no address to send to in {:?}",
            ticket.number, article.to
        )));
    }
    let recipients: Vec<String> = to.iter().chain(&cc).map(|(_, a)| a.clone()).collect();
    let tag = config.numbers.subject_tag(&ticket.number);
    let subject = if article.subject.contains(&tag) {
        article.subject.clone()
    } else {
        format!("[{tag}] {}", article.subject)
    };
    let message_id = article
        .message_id
        .clone()
        .unwrap_or_else(|| ticketcore::rules::message_id(config, &ticket.queue, article.id));

    // Answer the customer's latest message unless the article says what it answers.
    let (in_reply_to, references) = match &article.in_reply_to {
        Some(id) => (Some(id.clone()), article.references.clone()),
        None => {
            let articles = desk.articles(&Actor::System, ticket.id).await?;
            match articles
                .iter()
                .rev()
                .find(|a| a.sender == Sender::Customer && a.message_id.is_some())
            {
                Some(last) => {
                    let id = last.message_id.clone().unwrap_or_default();
                    let mut refs = last.references.clone();
                    refs.push(id.clone());
                    (Some(id), refs)
                }
                None => (None, Vec::new()),
            }
        }
    };

    let mut builder = MessageBuilder::new()
        .from(address(Some(sender_name), system.clone()))
        .reply_to(Address::from(system.clone()))
        .to(Address::new_list(
            to.into_iter().map(|(n, a)| address(n, a)).collect(),
        ))
        .subject(subject)
        .message_id(message_id.clone())
        .date(article.created.timestamp())
        .text_body(article.body.clone());
    if !cc.is_empty() {
        builder = builder.cc(Address::new_list(
            cc.into_iter().map(|(n, a)| address(n, a)).collect(),
        ));
    }
    if let Some(id) = in_reply_to {
        builder = builder.in_reply_to(id);
    }
    if !references.is_empty() {
        builder = builder.references(references);
    }
    if let Some(html) = &article.body_html {
        builder = builder.html_body(html.clone());
    }
    let automatic = article.sender == Sender::System;
    if automatic {
        builder = builder
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .header("X-Loop", Raw::new(system.clone()));
    }
    for attachment in &article.attachments {
        let data = match desk
            .attachment(&Actor::System, ticket.id, &attachment.hash)
            .await
        {
            Ok(data) => data,
            Err(ticketcore::Error::NotFound(_)) => {
                let missing = format!("attachment {} is missing", attachment.name);
                return Err(MailError::Transport(missing));
            }
            Err(e) => return Err(e.into()),
        };
        builder = builder.attachment(
            attachment.content_type.clone(),
            attachment.name.clone(),
            data,
        );
    }
    let raw = builder.write_to_vec()?;
    Ok(Outgoing {
        envelope_from: (!automatic).then_some(system),
        recipients,
        message_id,
        raw,
    })
}

/// What happened, in a few words, for a notification's `{{notification}}`.
fn happened(reason: Reason, ticket: &Ticket) -> String {
    match reason {
        Reason::NewTicket => "New ticket".into(),
        Reason::FollowUp => "Customer follow-up".into(),
        Reason::Note => "New note".into(),
        Reason::Move => format!("Moved to {}", ticket.queue),
        Reason::LockTimeout => "Your lock ran out and was released".into(),
        Reason::EscalationWarning => "Escalation warning".into(),
        Reason::Escalation => "Escalated".into(),
        Reason::Reminder => "Reminder".into(),
        Reason::Watched => "Change on a ticket you watch".into(),
    }
}

/// Composes the notification of `agent` about `ticket`, for `reason`, caused by `actor` and
/// carrying `article` (a note's or a follow-up's text) where there is one. `None` when the
/// agent has no address to write to.
pub fn notification(
    config: &Config,
    ticket: &Ticket,
    agent: &Agent,
    reason: Reason,
    actor: &Actor,
    article: Option<&Article>,
    id: String,
) -> Result<Option<Outgoing>, MailError> {
    if agent.email.is_empty() {
        return Ok(None);
    }
    let system = sender(config, ticket)?;
    let actor = match actor {
        // Mail is taken in by the desk itself: the customer is who wrote.
        Actor::System if matches!(reason, Reason::NewTicket | Reason::FollowUp) => ticket
            .customer
            .as_ref()
            .map_or("the desk".into(), |c| format!("customer {c}")),
        Actor::Agent(login) => agent_name(config, login),
        Actor::Customer(login) => format!("customer {login}"),
        Actor::System => "the desk".into(),
    };
    let name = agent_name(config, &agent.login);
    let variables = Variables::of(config, ticket, "", "")
        .with(
            "ticket.url",
            config.notifications.ticket_url(ticket.number.as_str()),
        )
        .with("notification", happened(reason, ticket))
        .with("actor", actor)
        .with("agent.name", name.clone())
        .with(
            "article.subject",
            article.map(|a| a.subject.clone()).unwrap_or_default(),
        )
        .with(
            "article.body",
            article.map(|a| a.body.clone()).unwrap_or_default(),
        );
    let template = config.notifications.template(reason);
    let raw = MessageBuilder::new()
        .from(address(Some(ticket.queue.clone()), system.clone()))
        .to(address(Some(name), agent.email.clone()))
        .subject(variables.render(&template.subject))
        .message_id(id.clone())
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .header("X-Loop", Raw::new(system.clone()))
        .text_body(variables.render(&template.body))
        .write_to_vec()?;
    Ok(Some(Outgoing {
        envelope_from: Some(system),
        recipients: vec![agent.email.clone()],
        message_id: id,
        raw,
    }))
}
