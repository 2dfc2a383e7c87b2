//! The Desk's lookups by key and its event log, for the clients that thread mail, send the
//! outbox, export a desk or follow the log: each takes the acting identity and answers only
//! what that actor may see, so no client needs the store itself.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::StoredAccount;
use crate::acl::{CustomerUser, Viewer};
use crate::article::Article;
use crate::desk::{Desk, customer_visible};
use crate::error::{Error, Result};
use crate::event::{Actor, Event};
use crate::number::TicketNumber;
use crate::ticket::{Ticket, TicketId};

/// A page of the event log as one actor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventPage {
    /// The events the actor may see, in log order.
    pub events: Vec<Event>,
    /// Where the next page starts: the last sequence number read, seen or not, so events the
    /// actor may not see are passed over once rather than read again.
    pub cursor: u64,
}

impl Desk {
    /// A ticket by number, if `actor` may see it.
    pub async fn ticket_by_number(
        &self,
        actor: &Actor,
        number: &TicketNumber,
    ) -> Result<Option<Ticket>> {
        let (config, viewer) = self.door(actor).await?;
        Ok(self
            .store
            .ticket_by_number(number)
            .await?
            .filter(|t| viewer.sees(&config, t)))
    }

    /// The article carrying a Message-ID, with its ticket, if `actor` may see both.
    pub async fn article_by_message_id(
        &self,
        actor: &Actor,
        message_id: &str,
    ) -> Result<Option<(Article, Ticket)>> {
        let (config, viewer) = self.door(actor).await?;
        let Some(article) = self.store.article_by_message_id(message_id).await? else {
            return Ok(None);
        };
        if !(viewer.sees_internal() || article.visible_to_customer) {
            return Ok(None);
        }
        Ok(self
            .store
            .ticket(article.ticket)
            .await?
            .filter(|t| viewer.sees(&config, t))
            .map(|t| (article, t)))
    }

    /// A customer user of the directory: agents and the system see all, a customer only
    /// themselves.
    pub async fn customer(&self, actor: &Actor, login: &str) -> Result<Option<CustomerUser>> {
        let viewer = self.door(actor).await?.1;
        let found = self.store.customer(login).await?;
        Ok(found.filter(|c| sees_customer(&viewer, c)))
    }

    /// A page of the customer directory (see [`Store::customers`](crate::Store::customers)),
    /// as [`customer`](Self::customer) shows it: a customer finds only themselves.
    pub async fn customers(
        &self,
        actor: &Actor,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CustomerUser>> {
        let viewer = self.door(actor).await?.1;
        let mut page = self.store.customers(after, limit).await?;
        page.retain(|c| sees_customer(&viewer, c));
        Ok(page)
    }

    /// A customer user by email address (case-insensitive), as [`customer`](Self::customer).
    pub async fn customer_by_email(
        &self,
        actor: &Actor,
        email: &str,
    ) -> Result<Option<CustomerUser>> {
        let viewer = self.door(actor).await?.1;
        let found = self.store.customer_by_email(email).await?;
        Ok(found.filter(|c| sees_customer(&viewer, c)))
    }

    /// The current value of counter `key` (a rate limit's units used today, say): counters
    /// hold no ticket data, so any actor may read them.
    pub async fn counter(&self, key: &str) -> Result<u64> {
        Ok(self.store.counter(key).await?)
    }

    /// The sign-in account of `login` as stored (hashes only), for moving a desk to another
    /// store: the system's and admins' business.
    pub async fn account(&self, by: &Actor, login: &str) -> Result<Option<StoredAccount>> {
        let admin = match by {
            Actor::System => true,
            Actor::Agent(login) => {
                let (config, _) = self.door(by).await?;
                config.agent(login).is_some_and(|a| a.admin)
            }
            Actor::Customer(_) => false,
        };
        if !admin {
            return Err(Error::Denied {
                actor: by.to_string(),
                action: "read sign-in accounts".into(),
                queue: String::new(),
            });
        }
        Ok(self.store.account(login).await?)
    }

    /// Up to `limit` events after sequence number `after`, of those `actor` may see: the
    /// system sees every event; an agent those of tickets it may read now; a customer those of
    /// their own tickets that concern them (never internal notes).
    pub async fn events_since(&self, actor: &Actor, after: u64, limit: usize) -> Result<EventPage> {
        let (config, viewer) = self.door(actor).await?;
        let events = self.store.events_since(after, limit).await?;
        let cursor = events.last().map_or(after, |e| e.seq);
        if viewer == Viewer::System {
            return Ok(EventPage { events, cursor });
        }
        let mut tickets: HashMap<TicketId, bool> = HashMap::new();
        let mut visible = Vec::with_capacity(events.len());
        for event in events {
            if !viewer.sees_internal() && !customer_visible(&event.kind) {
                continue;
            }
            let sees = match tickets.get(&event.ticket) {
                Some(sees) => *sees,
                None => {
                    let ticket = self.store.ticket(event.ticket).await?;
                    let sees = ticket.is_some_and(|t| viewer.sees(&config, &t));
                    tickets.insert(event.ticket, sees);
                    sees
                }
            };
            if sees {
                visible.push(event);
            }
        }
        Ok(EventPage {
            events: visible,
            cursor,
        })
    }

    /// Waits until an event after `after` may exist, or `timeout` has passed (at once where the
    /// store cannot be woken; see [`Store::wait_for_events`](crate::Store::wait_for_events)).
    pub async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<()> {
        Ok(self.store.wait_for_events(after, timeout).await?)
    }

    /// A named consumer's saved position in the event log (0 when new). Each actor's
    /// consumers are its own: an agent's "bot" is not the system's.
    pub async fn cursor(&self, actor: &Actor, consumer: &str) -> Result<u64> {
        self.door(actor).await?;
        Ok(self.store.cursor(&consumer_key(actor, consumer)).await?)
    }

    /// Saves a named consumer's position (the last event it has dealt with).
    pub async fn save_cursor(&self, actor: &Actor, consumer: &str, position: u64) -> Result<()> {
        self.door(actor).await?;
        Ok(self
            .store
            .save_cursor(&consumer_key(actor, consumer), position)
            .await?)
    }
}

/// Whether `viewer` may see a customer's directory entry.
fn sees_customer(viewer: &Viewer, customer: &CustomerUser) -> bool {
    match viewer {
        Viewer::System | Viewer::Agent(_) => true,
        Viewer::Customer(scope) => scope.login == customer.login,
    }
}

/// Where an actor's consumer keeps its cursor: the system's consumers by their name (as the
/// outbox always has), others under their actor.
fn consumer_key(actor: &Actor, consumer: &str) -> String {
    match actor {
        Actor::System => consumer.to_string(),
        other => format!("{other}/{consumer}"),
    }
}
