//! Which ticket a message continues. In order of trust: a ticket number in the subject (the
//! configured hook, validated, so a foreign or mistyped number never matches), a Message-ID
//! the message answers (In-Reply-To, then References newest first), and where configured a
//! ticket number in the body.

use ticketcore::{Actor, Config, Desk, Ticket};

use crate::MailError;
use crate::inbound::{Inbound, addresses_in};

/// How a message was recognised as a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clue {
    /// The ticket number in the subject.
    SubjectNumber,
    /// In-Reply-To or References naming one of the ticket's articles.
    Reference,
    /// A ticket number in the body (`[mail] follow_up_by_body`).
    BodyNumber,
}

/// The ticket `mail` continues, and how it was recognised; `None` for a new request.
pub async fn thread(
    desk: &Desk,
    config: &Config,
    mail: &Inbound,
) -> Result<Option<(Ticket, Clue)>, MailError> {
    let system = &Actor::System;
    for number in config.numbers.numbers_in(&mail.subject) {
        if let Some(ticket) = desk.ticket_by_number(system, &number).await? {
            return Ok(Some((ticket, Clue::SubjectNumber)));
        }
    }
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if let Some((_, ticket)) = desk.article_by_message_id(system, id).await? {
            return Ok(Some((ticket, Clue::Reference)));
        }
    }
    if config.mail.follow_up_by_body {
        for number in config.numbers.numbers_in(&mail.body) {
            if let Some(ticket) = desk.ticket_by_number(system, &number).await? {
                return Ok(Some((ticket, Clue::BodyNumber)));
            }
        }
    }
    Ok(None)
}

/// Whether `sender` (lower case) is the ticket's customer or wrote on it before: anyone else
/// following up by number may have guessed or been forwarded it.
pub async fn known_sender(desk: &Desk, ticket: &Ticket, sender: &str) -> Result<bool, MailError> {
    if let Some(customer) = &ticket.customer {
        if customer.eq_ignore_ascii_case(sender) {
            return Ok(true);
        }
        if let Some(user) = desk.customer(&Actor::System, customer).await?
            && user.email.eq_ignore_ascii_case(sender)
        {
            return Ok(true);
        }
    }
    let articles = desk.articles(&Actor::System, ticket.id).await?;
    Ok(articles.iter().any(|a| {
        addresses_in(&a.from)
            .iter()
            .chain(addresses_in(&a.cc).iter())
            .any(|x| x.eq_ignore_ascii_case(sender))
    }))
}
