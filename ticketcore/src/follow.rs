//! The event log as each actor sees it: pages of it ([`Desk::events_since`]), a live stream
//! of it ([`Desk::follow`]) that waits without polling where the store can be woken, and the
//! cursors named consumers keep in the store to resume exactly where they stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::acl::Viewer;
use crate::config::Config;
use crate::desk::Desk;
use crate::error::Result;
use crate::event::{Actor, Event, EventKind};
use crate::ticket::{Ticket, TicketId};

/// Events read per store query while following.
const PAGE: usize = 256;
/// The longest the tail waits before it looks again by itself: a store's wake-up that got
/// lost (a listener reconnecting) costs at most this, and a tail nobody follows any more ends
/// by then.
const WAIT: Duration = Duration::from_secs(30);
/// Batches the tail keeps for followers that are slow to take them; one further behind reads
/// what it missed from the store itself.
const BACKLOG: usize = 64;

/// One stretch of the log as the tail read it, shared by every follower of the desk, with
/// what they need to decide who sees what.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The position it was read after.
    after: u64,
    /// The position it reached.
    upto: u64,
    /// The events, unfiltered.
    events: Vec<Event>,
    /// The configuration as of the batch (its version checked once for all followers).
    config: Arc<Config>,
    /// The batch's tickets as they are now, where a follower needs them (customers follow,
    /// or events predate `visible_in`).
    tickets: HashMap<TicketId, Ticket>,
    /// Whether every event's ticket is in `tickets` (a customer followed when it was read).
    all_tickets: bool,
}

/// The reader of the log's tail: a task that reads each commit's events once and hands them
/// to every follower. It lives while anyone follows.
#[derive(Debug)]
pub(crate) struct Tail {
    batches: broadcast::Sender<Arc<Batch>>,
    /// How far it has handed out: a new follower behind it reads up to there from the store.
    position: std::sync::atomic::AtomicU64,
    /// How many customers follow (they need each batch's tickets).
    customers: std::sync::atomic::AtomicUsize,
    /// Told when the last follower lets go, so the task ends at once rather than after its
    /// wait (and does not keep the desk, and a redb file, open meanwhile).
    abandoned: tokio::sync::Notify,
}

/// A follower's hold on the tail; a customer's counts while it lasts.
#[derive(Debug)]
struct Hold {
    tail: Arc<Tail>,
    batches: broadcast::Receiver<Arc<Batch>>,
    customer: bool,
}

impl Drop for Hold {
    fn drop(&mut self) {
        // The tail counts who is left (under the desk's lock), so two holds dropped at once
        // cannot both think the other stays.
        self.tail.abandoned.notify_one();
        if self.customer {
            self.tail
                .customers
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Desk {
    /// A hold on the desk's tail, started from `after` if none runs.
    fn hold(self: &Arc<Self>, after: u64, customer: bool) -> Hold {
        let mut slot = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let tail = match slot.upgrade() {
            Some(tail) => tail,
            None => {
                let (batches, _) = broadcast::channel(BACKLOG);
                let tail = Arc::new(Tail {
                    batches,
                    position: after.into(),
                    customers: Default::default(),
                    abandoned: Default::default(),
                });
                *slot = Arc::downgrade(&tail);
                tokio::spawn(read_tail(Arc::downgrade(self), tail.clone(), after));
                tail
            }
        };
        if customer {
            tail.customers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Hold {
            batches: tail.batches.subscribe(),
            tail,
            customer,
        }
    }
}

/// The tail's task: reads the log from `position` on, a batch per wake-up, and hands each
/// batch to the followers; ends when nobody follows or the desk is gone.
async fn read_tail(desk: std::sync::Weak<Desk>, tail: Arc<Tail>, mut position: u64) {
    let mut pause = Duration::from_millis(100);
    loop {
        let Some(desk) = desk.upgrade() else { return };
        if tail.batches.receiver_count() == 0 {
            // Decided under the lock new followers join under, so none joins a tail that ends.
            let mut slot = desk.tail.lock().unwrap_or_else(|e| e.into_inner());
            if tail.batches.receiver_count() == 0 {
                *slot = std::sync::Weak::new();
                return;
            }
        }
        let read = async {
            let events = desk.store.events_since(position, PAGE).await?;
            let Some(upto) = events.last().map(|e| e.seq) else {
                let started = tokio::time::Instant::now();
                tokio::select! {
                    waited = desk.store.wait_for_events(position, WAIT) => waited?,
                    () = tail.abandoned.notified() => return Ok(None),
                }
                // A store that cannot wait at all (the trait's default returns at once with
                // nothing new) is polled gently.
                if started.elapsed() < Duration::from_millis(1)
                    && desk.store.events_since(position, 1).await?.is_empty()
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                return Ok(None);
            };
            let config = desk.current_config().await?;
            let customers = tail.customers.load(std::sync::atomic::Ordering::Relaxed) > 0;
            let mut tickets = HashMap::new();
            for event in &events {
                let needed = customers || event.visible_in.is_empty();
                if needed
                    && !tickets.contains_key(&event.ticket)
                    && let Some(t) = desk.store.ticket(event.ticket).await?
                {
                    tickets.insert(event.ticket, t);
                }
            }
            Ok::<_, crate::Error>(Some(Batch {
                after: position,
                upto,
                events,
                config,
                tickets,
                all_tickets: customers,
            }))
        };
        match read.await {
            Ok(Some(batch)) => {
                position = batch.upto;
                tail.position
                    .store(position, std::sync::atomic::Ordering::Release);
                pause = Duration::from_millis(100);
                // No receiver left: the check above ends the task.
                let _ = tail.batches.send(Arc::new(batch));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%e, "reading the event log's tail");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// One follower's place in the log.
struct Follower {
    desk: Arc<Desk>,
    actor: Actor,
    cursor: u64,
    ready: VecDeque<Event>,
    tail: Option<Hold>,
    /// Read from the store, a page per step, up to here before taking the tail's batches.
    behind: Option<u64>,
    ended: bool,
}

impl Follower {
    /// Takes the next page this follower is behind by, or the tail's next batch.
    async fn step(&mut self) -> Result<()> {
        let customer = matches!(self.actor, Actor::Customer(_));
        if self.tail.is_none() {
            // The tail follows the log's end, wherever this follower starts: a place past
            // the end (a stale or made-up cursor) waits for the next event, not for ever.
            let end = self.desk.store.last_seq().await?;
            self.cursor = self.cursor.min(end);
            let hold = self.desk.hold(end, customer);
            // What the tail handed out before this follower joined.
            let handed = hold
                .tail
                .position
                .load(std::sync::atomic::Ordering::Acquire);
            self.behind = Some(handed);
            self.tail = Some(hold);
        }
        if let Some(upto) = self.behind {
            if self.cursor < upto && self.page().await? {
                return Ok(());
            }
            self.behind = None;
        }
        let Some(hold) = &mut self.tail else {
            return Ok(());
        };
        match hold.batches.recv().await {
            Ok(batch) if batch.upto <= self.cursor => {}
            // The tail read past this follower's place, or read this batch before this
            // customer joined (without the tickets it needs): catch up from the store.
            Ok(batch) if batch.after > self.cursor || customer && !batch.all_tickets => {
                self.behind = Some(batch.upto);
            }
            Ok(batch) => {
                let viewer = self.desk.admit(&batch.config, &self.actor).await?;
                for event in batch.events.iter().filter(|e| e.seq > self.cursor) {
                    let ticket = batch.tickets.get(&event.ticket);
                    self.ready
                        .extend(share(&viewer, &batch.config, event.clone(), ticket));
                }
                self.cursor = batch.upto;
            }
            // Too slow for the tail's backlog: read from the store what it dropped.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let handed = hold
                    .tail
                    .position
                    .load(std::sync::atomic::Ordering::Acquire);
                self.behind = Some(handed);
            }
            Err(broadcast::error::RecvError::Closed) => self.tail = None,
        }
        Ok(())
    }

    /// Reads one page of the log from the store, as this actor sees it; whether there was one.
    async fn page(&mut self) -> Result<bool> {
        let page = self
            .desk
            .events_since(&self.actor, self.cursor, PAGE)
            .await?;
        let moved = page.cursor != self.cursor;
        self.cursor = page.cursor;
        self.ready.extend(page.events);
        Ok(moved)
    }
}

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
        for event in events {
            if viewer.needs_ticket(&event) && !tickets.contains_key(&event.ticket) {
                let ticket = self.store.ticket(event.ticket).await?;
                tickets.insert(event.ticket, ticket);
            }
            let ticket = tickets.get(&event.ticket).and_then(Option::as_ref);
            visible.extend(share(&viewer, &config, event, ticket));
        }
        Ok(EventPage {
            events: visible,
            cursor,
        })
    }

    /// The newest event's sequence number: where a follower of the live end starts (a web
    /// page opened now wants what happens from now on).
    pub async fn last_seq(&self) -> Result<u64> {
        Ok(self.store.last_seq().await?)
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

    /// A named consumer's document (a webhook's failures and last error), if it saved one.
    pub async fn consumer_state(&self, actor: &Actor, consumer: &str) -> Result<Option<Vec<u8>>> {
        self.door(actor).await?;
        Ok(self
            .store
            .consumer_state(&consumer_key(actor, consumer))
            .await?)
    }

    /// Saves a named consumer's document beside its cursor.
    pub async fn save_consumer_state(
        &self,
        actor: &Actor,
        consumer: &str,
        state: &[u8],
    ) -> Result<()> {
        self.door(actor).await?;
        Ok(self
            .store
            .save_consumer_state(&consumer_key(actor, consumer), state)
            .await?)
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
    /// order, for as long as the stream is polled. The desk's followers share one reader of
    /// the log's tail (one store read per commit, whatever the number of followers), which
    /// waits on the store's wake-up ([`Store::wait_for_events`](crate::Store::wait_for_events)):
    /// at once in this process on every backend, from any process on PostgreSQL, and by
    /// polling where a store cannot be told (SQLite and MariaDB written by another process).
    /// A follower behind the tail catches up from the store by itself. A failure (the actor
    /// disabled, the store gone) ends the stream after yielding it; follow again from the
    /// last event seen.
    pub fn follow(
        self: &Arc<Self>,
        actor: Actor,
        after: u64,
    ) -> impl Stream<Item = Result<Event>> + Send + 'static + use<> {
        let start = Follower {
            desk: self.clone(),
            actor,
            cursor: after,
            ready: VecDeque::new(),
            tail: None,
            behind: None,
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
                if let Err(e) = f.step().await {
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

/// `event` as `viewer` may see it, if at all: whom a note notifies is the agents' business.
fn share(
    viewer: &Viewer,
    config: &Config,
    mut event: Event,
    ticket: Option<&Ticket>,
) -> Option<Event> {
    if !viewer.sees_event(config, &event, ticket) {
        return None;
    }
    if let (Viewer::Customer(_), EventKind::AddNote { notify, .. }) = (viewer, &mut event.kind) {
        notify.clear();
    }
    Some(event)
}

/// Where an actor's consumer keeps its cursor: the system's consumers by their name (as the
/// outbox always has), others under their actor.
fn consumer_key(actor: &Actor, consumer: &str) -> String {
    match actor {
        Actor::System => consumer.to_string(),
        other => format!("{other}/{consumer}"),
    }
}
