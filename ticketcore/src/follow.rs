//! The event log as each actor sees it: pages of it ([`Desk::events_since`]), a live stream
//! of it ([`Desk::follow`]) that waits without polling where the store can be woken, and the
//! cursors named consumers keep in the store to resume exactly where they stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::acl::Viewer;
use crate::desk::Desk;
use crate::error::Result;
use crate::event::{Actor, Event, EventKind};
use crate::ticket::{Ticket, TicketId};

/// Events read per store query while following.
const PAGE: usize = 256;
/// The longest a follower waits before it looks again by itself: a store's wake-up that got
/// lost (a listener reconnecting) costs at most this.
const WAIT: Duration = Duration::from_secs(30);

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
    /// Up to `limit` events after sequence number `after`, of those `actor` may see: the
    /// system sees every event; an agent those that left their ticket in a queue it may read
    /// (see [`Viewer::sees_event`]); a customer those of their own tickets that concern them,
    /// never internal notes or whom a note notifies.
    pub async fn events_since(&self, actor: &Actor, after: u64, limit: usize) -> Result<EventPage> {
        let (config, viewer) = self.door(actor).await?;
        let events = self.store.events_since(after, limit).await?;
        let cursor = events.last().map_or(after, |e| e.seq);
        if viewer == Viewer::System {
            return Ok(EventPage { events, cursor });
        }
        let mut tickets: HashMap<TicketId, Option<Ticket>> = HashMap::new();
        let mut visible = Vec::with_capacity(events.len());
        for mut event in events {
            let ticket = match viewer.needs_ticket(&event) {
                false => None,
                true => match tickets.get(&event.ticket) {
                    Some(ticket) => ticket.as_ref(),
                    None => {
                        let ticket = self.store.ticket(event.ticket).await?;
                        tickets.entry(event.ticket).or_insert(ticket).as_ref()
                    }
                },
            };
            if !viewer.sees_event(&config, &event, ticket) {
                continue;
            }
            // Whom a note notifies is the agents' business.
            if let (Viewer::Customer(_), EventKind::AddNote { notify, .. }) =
                (&viewer, &mut event.kind)
            {
                notify.clear();
            }
            visible.push(event);
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

    /// The events `actor` may see after sequence number `after`, as they are committed, in log
    /// order, for as long as the stream is polled. Between commits it waits on the store's
    /// wake-up ([`Store::wait_for_events`](crate::Store::wait_for_events)): at once in this
    /// process on every backend, from any process on PostgreSQL, and by polling where a store
    /// cannot be told (SQLite and MariaDB written by another process). A failure ends the
    /// stream after yielding it; follow again from the last event seen.
    pub fn follow(
        self: &Arc<Self>,
        actor: Actor,
        after: u64,
    ) -> impl Stream<Item = Result<Event>> + Send + 'static {
        struct Follower {
            desk: Arc<Desk>,
            actor: Actor,
            cursor: u64,
            ready: VecDeque<Event>,
            ended: bool,
        }
        let start = Follower {
            desk: self.clone(),
            actor,
            cursor: after,
            ready: VecDeque::new(),
            ended: false,
        };
        futures_util::stream::unfold(start, |mut f| async move {
            if f.ended {
                return None;
            }
            loop {
                if let Some(event) = f.ready.pop_front() {
                    return Some((Ok(event), f));
                }
                let page = match f.desk.events_since(&f.actor, f.cursor, PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        f.ended = true;
                        return Some((Err(e), f));
                    }
                };
                let moved = page.cursor != f.cursor;
                f.cursor = page.cursor;
                f.ready.extend(page.events);
                if !moved && let Err(e) = f.desk.wait_for_events(f.cursor, WAIT).await {
                    f.ended = true;
                    return Some((Err(e), f));
                }
            }
        })
    }

    /// [`follow`](Self::follow) for the named consumer `consumer` of `actor`: from just after
    /// the last event it acknowledged with [`save_cursor`](Self::save_cursor), so after a
    /// restart it sees every event it had not finished, and none it had.
    pub async fn resume(
        self: &Arc<Self>,
        actor: Actor,
        consumer: &str,
    ) -> Result<impl Stream<Item = Result<Event>> + Send + 'static> {
        let after = self.cursor(&actor, consumer).await?;
        Ok(self.follow(actor, after))
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
