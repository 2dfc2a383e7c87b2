//! The Desk: the service facade every client (CLI, web server, bot, mail ingest) talks to.
//!
//! Each operation loads the ticket and a configuration snapshot, lets the pure rules compute
//! the change (permissions included), and commits it with compare-and-swap on the ticket's
//! version; on a conflict it reloads and recomputes, a bounded number of times.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::acl::{CustomerScope, Viewer, readable_queues};
use crate::article::{Article, ArticleId, Channel, ContentHash, Message};
use crate::clock::{Clock, Entropy, OsEntropy, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::{Actor, Event, EventKind};
use crate::number::TicketNumber;
use crate::numbering::NumberBlocks;
use crate::rules::{self, Ctx, FollowUpAction, Fresh, NewTicket, Op};
use crate::store::{Change, Store, StoreError, TicketPage, TicketQuery, Unique};
use crate::ticket::{DueKind, LinkKind, Priority, Ticket, TicketId};

/// How often a conflicting operation is recomputed before giving up.
const DEFAULT_ATTEMPTS: usize = 64;
/// How many merged tickets a follow-up is forwarded through at most.
const MAX_MERGE_HOPS: usize = 16;
/// How long a cached configuration is trusted before it is re-read from the store, so other
/// processes' configuration changes arrive.
const CONFIG_TTL: chrono::Duration = chrono::Duration::seconds(5);
/// Due tickets per `tick` batch unless [`Desk::with_tick_batch`] says otherwise.
const TICK_BATCH: usize = 256;

/// `change` followed, in the same commit, by the operation `then` picks for the ticket it
/// is about (its first write), if any.
fn followed_by(
    ctx: Ctx<'_>,
    change: Change,
    then: impl FnOnce(&Ticket) -> Option<Op>,
) -> Result<Change> {
    let next = match change.writes.first() {
        Some(w) => then(&w.ticket)
            .map(|op| rules::apply(ctx, &w.ticket, &op))
            .transpose()?,
        None => None,
    };
    Ok(match next {
        Some(next) => change.then(next),
        None => change,
    })
}

/// The result of a committed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The ticket the operation was about (the new one, for creations and splits), as stored.
    pub ticket: Ticket,
    /// The events it appended, with their sequence numbers; empty when nothing changed.
    pub events: Vec<Event>,
}

/// What one `tick` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TickReport {
    /// Tickets changed.
    pub tickets: usize,
    /// Locks released.
    pub unlocked: usize,
    /// Pending reminders sent.
    pub reminders: usize,
    /// Tickets auto-closed.
    pub closed: usize,
    /// Escalation warnings emitted.
    pub warnings: usize,
    /// Escalations emitted.
    pub escalations: usize,
    /// Due times maintenance could not process and set aside (see
    /// [`rules::maintain`]), with the ticket and why; each is also a `SetAside` event.
    pub set_aside: Vec<(TicketNumber, String)>,
}

impl TickReport {
    fn count(&mut self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        self.tickets += 1;
        for e in events {
            match &e.kind {
                EventKind::Unlock { .. } => self.unlocked += 1,
                EventKind::Reminder { .. } => self.reminders += 1,
                EventKind::StateUpdate { state_type, .. } if state_type.is_closed() => {
                    self.closed += 1
                }
                EventKind::EscalationWarning { .. } => self.warnings += 1,
                EventKind::Escalation { .. } => self.escalations += 1,
                EventKind::SetAside { reason, .. } => {
                    self.set_aside.push((e.number.clone(), reason.clone()))
                }
                _ => {}
            }
        }
    }
}

/// What a customer follow-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedUp {
    /// How the queue's policy disposed of it.
    pub action: FollowUpAction,
    /// The ticket that received the message (the surviving one after merges, or the new one).
    pub committed: Committed,
}

#[derive(Debug)]
struct CachedConfig {
    version: u64,
    config: Arc<Config>,
    loaded: DateTime<Utc>,
}

/// What to do to a ticket right after creating it, in the same commit.
type Then<'a> = &'a (dyn Fn(&Config, &Ticket) -> Option<Op> + Send + Sync);
/// What to do to the ticket that took a follow-up, by what the follow-up did, in the same
/// commit.
type FollowUpThen<'a> = &'a (dyn Fn(&Config, FollowUpAction, &Ticket) -> Option<Op> + Send + Sync);

/// What an operation needs loaded and computed, so one retry loop serves them all.
enum Plan<'a> {
    Create(&'a NewTicket, Option<Then<'a>>),
    Apply(TicketId, &'a Op),
    ApplyAll(TicketId, &'a [Op]),
    FollowUp {
        ticket: TicketId,
        article: ArticleId,
        message: &'a Message,
        channel: Channel,
        unknown_sender: bool,
        then: Option<FollowUpThen<'a>>,
    },
    Merge(TicketId, TicketId),
    Split {
        source: TicketId,
        article: ArticleId,
        queue: &'a str,
        title: Option<&'a str>,
    },
    Link(TicketId, TicketId, LinkKind),
    Tick(TicketId, DateTime<Utc>),
}

/// The helpdesk engine over one [`Store`].
#[derive(Debug)]
pub struct Desk {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    config: RwLock<Option<CachedConfig>>,
    numbers: NumberBlocks,
    pub(crate) attempts: usize,
    tick_batch: usize,
    number_block: Option<u64>,
    /// The log's tail that this desk's followers share (see `follow`), while any follows.
    pub(crate) tail: std::sync::Mutex<std::sync::Weak<crate::follow::Tail>>,
}

impl Desk {
    /// A desk on `store` with the system clock and OS randomness.
    pub fn new(store: Arc<dyn Store>) -> Desk {
        Desk {
            store,
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            config: RwLock::new(None),
            numbers: NumberBlocks::default(),
            attempts: DEFAULT_ATTEMPTS,
            tick_batch: TICK_BATCH,
            number_block: None,
            tail: Default::default(),
        }
    }

    /// Uses `clock` for every timestamp and deadline.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Desk {
        self.clock = clock;
        self
    }

    /// Uses `entropy` for ids and Random ticket numbers.
    pub fn with_entropy(mut self, entropy: Arc<dyn Entropy>) -> Desk {
        self.entropy = entropy;
        self
    }

    /// Sets how often a conflicting operation is recomputed before [`Error::Contention`].
    pub fn with_attempts(mut self, attempts: usize) -> Desk {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets how many due tickets `tick` takes per batch (one group commit each).
    pub fn with_tick_batch(mut self, tickets: usize) -> Desk {
        self.tick_batch = tickets.max(1);
        self
    }

    /// Reserves `count` ticket numbers per store round trip instead of the configured
    /// `[numbers] block`: a process that creates one ticket and exits (an MTA's delivery)
    /// takes 1, so it leaves no gap in the numbers.
    pub fn with_number_block(mut self, count: u64) -> Desk {
        self.number_block = Some(count);
        self
    }

    /// The store itself, around every permission check: for the embedder that built the store
    /// and needs what no actor may do (bulk restores, benchmarks of the store). Clients act
    /// through the Desk's methods instead, as an actor.
    pub fn store_unchecked(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The desk's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Validates and stores `config` (replacing the current one, keeping tickets) and puts its
    /// customers into the customer directory. Returns the new configuration version.
    pub async fn configure(&self, mut config: Config) -> Result<u64> {
        config.validate()?;
        for customer in std::mem::take(&mut config.customers) {
            self.store.put_customer(&customer).await?;
        }
        let mut attempts = 0;
        let version = loop {
            let current = self.store.config().await?.map_or(0, |c| c.version);
            match self.store.save_config(&config, current).await {
                Ok(version) => break version,
                Err(StoreError::Conflict(_)) if attempts < self.attempts => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        };
        self.cache(version, config);
        Ok(version)
    }

    fn cache(&self, version: u64, config: Config) -> Arc<Config> {
        let config = Arc::new(config);
        let mut slot = self.config.write().unwrap_or_else(|e| e.into_inner());
        *slot = Some(CachedConfig {
            version,
            config: config.clone(),
            loaded: self.clock.now(),
        });
        config
    }

    /// The configuration snapshot operations run against.
    pub async fn config(&self) -> Result<Arc<Config>> {
        let now = self.clock.now();
        {
            let slot = self.config.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = slot.as_ref()
                && now.signed_duration_since(c.loaded).abs() < CONFIG_TTL
            {
                return Ok(c.config.clone());
            }
        }
        self.reload_config().await
    }

    /// The configuration as stored right now: one small read of its version, and the document
    /// only when it changed. Requests of signed-in actors run against it, so a disabled agent
    /// or a revoked permission counts from the next request in every process.
    pub async fn current_config(&self) -> Result<Arc<Config>> {
        let version = self.store.config_version().await?;
        {
            let slot = self.config.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = slot
                .as_ref()
                .filter(|c| c.version == version && version > 0)
            {
                return Ok(c.config.clone());
            }
        }
        self.reload_config().await
    }

    /// The door every request passes: the configuration the request runs against and who
    /// `actor` is as a viewer. The system gets the cached configuration; an agent or a
    /// customer the current one, and is refused when its account is disabled or gone.
    pub(crate) async fn door(&self, actor: &Actor) -> Result<(Arc<Config>, Viewer)> {
        let config = match actor {
            Actor::System => self.config().await?,
            _ => self.current_config().await?,
        };
        let viewer = self.admit(&config, actor).await?;
        Ok((config, viewer))
    }

    /// Who `actor` is as a viewer under `config`, refused when its account is disabled or
    /// gone: the door's check for a configuration read already.
    pub(crate) async fn admit(&self, config: &Config, actor: &Actor) -> Result<Viewer> {
        match actor {
            Actor::System => Ok(Viewer::System),
            Actor::Agent(login) => {
                match config.agent(login) {
                    Some(agent) if agent.valid => {}
                    Some(_) => {
                        return Err(Error::Unauthorized(format!("agent {login} is disabled")));
                    }
                    None => return Err(Error::Unauthorized(format!("there is no agent {login}"))),
                }
                Ok(Viewer::Agent(login.clone()))
            }
            Actor::Customer(login) => {
                let scope = match self.store.customer(login).await? {
                    Some(customer) if !customer.valid => {
                        return Err(Error::Unauthorized(format!("customer {login} is disabled")));
                    }
                    Some(customer) => CustomerScope::of(config, &customer),
                    // Mail from unknown senders makes tickets for logins not in the directory:
                    // they see only tickets recorded under that login.
                    None => CustomerScope {
                        login: login.to_string(),
                        company: None,
                    },
                };
                Ok(Viewer::Customer(scope))
            }
        }
    }

    /// Re-reads the configuration from the store now.
    pub async fn reload_config(&self) -> Result<Arc<Config>> {
        let stored = self.store.config().await?.ok_or(Error::NotConfigured)?;
        let unchanged = {
            let slot = self.config.read().unwrap_or_else(|e| e.into_inner());
            slot.as_ref()
                .filter(|c| c.version == stored.version)
                .map(|c| c.config.clone())
        };
        Ok(match unchanged {
            Some(config) => {
                self.cache(stored.version, (*config).clone());
                config
            }
            None => self.cache(stored.version, stored.config),
        })
    }

    /// A fresh UUID v7 from the injected clock and entropy.
    fn uuid(&self) -> Uuid {
        let millis = self.clock.now().timestamp_millis().max(0) as u64;
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.entropy.next_u64().to_le_bytes());
        random[8..].copy_from_slice(&self.entropy.next_u64().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    /// A fresh article id, for callers that build operations themselves.
    pub fn new_article_id(&self) -> ArticleId {
        ArticleId(self.uuid())
    }

    /// Issues the next ticket number: from the desk's reserved counter blocks (see
    /// [`crate::numbering`]), or random digits for the Random generator.
    async fn issue_number(&self, config: &Config) -> Result<TicketNumber> {
        let day = self.clock.now().date_naive();
        let numbers = &config.numbers;
        let Some(key) = numbers.counter_key(day) else {
            return Ok(numbers.format(day, 0, self.entropy.next_u64()));
        };
        let size = self.number_block.unwrap_or(numbers.block);
        let counter = self.numbers.next(self.store.as_ref(), &key, size).await?;
        Ok(numbers.format(day, counter, 0))
    }

    async fn fresh(&self, config: &Config) -> Result<Fresh> {
        Ok(Fresh {
            ticket: TicketId(self.uuid()),
            number: self.issue_number(config).await?,
            article: self.new_article_id(),
        })
    }

    /// Who `actor` is as a viewer (refused for a disabled or removed account).
    pub async fn viewer(&self, actor: &Actor) -> Result<Viewer> {
        Ok(self.door(actor).await?.1)
    }

    async fn load(&self, id: TicketId) -> Result<Ticket> {
        self.store
            .ticket(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("ticket {id}")))
    }

    /// Follows merges from `id` to the surviving ticket.
    async fn surviving(&self, id: TicketId) -> Result<Ticket> {
        let mut ticket = self.load(id).await?;
        for _ in 0..MAX_MERGE_HOPS {
            match ticket.merged_into {
                Some(next) => ticket = self.load(next).await?,
                None => return Ok(ticket),
            }
        }
        Err(Error::Invalid(format!(
            "ticket {} is merged through more than {MAX_MERGE_HOPS} tickets",
            ticket.number
        )))
    }

    /// The retry loop: compute the change from fresh reads, commit with CAS, repeat on conflict.
    async fn execute(&self, actor: &Actor, plan: Plan<'_>) -> Result<(FollowUpAction, Committed)> {
        let mut fresh: Option<Fresh> = None;
        for _ in 0..self.attempts {
            let (config, viewer) = self.door(actor).await?;
            let scope = match viewer {
                Viewer::Customer(scope) => Some(scope),
                _ => None,
            };
            let now = match plan {
                Plan::Tick(_, now) => now,
                _ => self.clock.now(),
            };
            let ctx = Ctx {
                config: &config,
                actor,
                customer: scope.as_ref(),
                now,
            };
            let mut action = FollowUpAction::Append;
            let change = match &plan {
                Plan::Create(input, then) => {
                    let f = match fresh.take() {
                        Some(f) => f,
                        None => self.fresh(&config).await?,
                    };
                    let change = rules::create(ctx, input, &f)?;
                    fresh = Some(f);
                    followed_by(ctx, change, |t| then.and_then(|then| then(&config, t)))?
                }
                Plan::Apply(id, op) => rules::apply(ctx, &self.load(*id).await?, op)?,
                Plan::ApplyAll(id, ops) => {
                    let Some((first, rest)) = ops.split_first() else {
                        return Err(Error::Invalid("no operation to apply".into()));
                    };
                    let mut change = rules::apply(ctx, &self.load(*id).await?, first)?;
                    for op in rest {
                        change = followed_by(ctx, change, |_| Some(op.clone()))?;
                    }
                    change
                }
                Plan::FollowUp {
                    ticket,
                    article,
                    message,
                    channel,
                    unknown_sender,
                    then,
                } => {
                    let ticket = self.surviving(*ticket).await?;
                    action = rules::follow_up_action(&config, &ticket);
                    let change = if action == FollowUpAction::NewTicket {
                        let f = match fresh.take() {
                            Some(f) => f,
                            None => self.fresh(&config).await?,
                        };
                        let change =
                            rules::follow_up_new_ticket(ctx, &ticket, message, *channel, &f)?;
                        fresh = Some(f);
                        change
                    } else {
                        let op = Op::FollowUp {
                            article: *article,
                            message: (*message).clone(),
                            channel: *channel,
                            unknown_sender: *unknown_sender,
                        };
                        rules::apply(ctx, &ticket, &op)?
                    };
                    followed_by(ctx, change, |t| {
                        then.and_then(|then| then(&config, action, t))
                    })?
                }
                Plan::Merge(source, target) => {
                    let target = self.surviving(*target).await?;
                    rules::merge(ctx, &self.load(*source).await?, &target)?
                }
                Plan::Split {
                    source,
                    article,
                    queue,
                    title,
                } => {
                    let ticket = self.load(*source).await?;
                    let articles = self.store.articles(ticket.id).await?;
                    let article = articles
                        .iter()
                        .find(|a| a.id == *article)
                        .ok_or_else(|| Error::NotFound(format!("article {article}")))?;
                    let f = match fresh.take() {
                        Some(f) => f,
                        None => self.fresh(&config).await?,
                    };
                    let change = rules::split(ctx, &ticket, article, queue, *title, &f)?;
                    fresh = Some(f);
                    change
                }
                Plan::Link(a, b, kind) => {
                    rules::link(ctx, &self.load(*a).await?, &self.load(*b).await?, *kind)?
                }
                Plan::Tick(id, _) => rules::maintain(ctx, &self.load(*id).await?),
            };
            match self.commit(change).await {
                Ok(committed) => return Ok((action, committed)),
                Err(Error::Store(StoreError::Conflict(_))) => continue,
                Err(Error::Store(StoreError::Duplicate(Unique::TicketNumber(n)))) => {
                    // Random numbers can collide, and imported numbers can sit ahead of the
                    // counter: draw another number and try again.
                    tracing::debug!(number = %n, "ticket number taken, issuing another");
                    fresh = None;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Contention(self.attempts))
    }

    async fn commit(&self, change: Change) -> Result<Committed> {
        let primary = change
            .writes
            .first()
            .map(|w| w.ticket.clone())
            .ok_or_else(|| Error::Invalid("empty change".into()))?;
        let unchanged = change
            .writes
            .iter()
            .all(|w| w.events.is_empty() && w.articles.is_empty());
        if unchanged {
            return Ok(Committed {
                ticket: primary,
                events: Vec::new(),
            });
        }
        let receipt = self.store.commit(change).await?;
        Ok(Committed {
            ticket: primary,
            events: receipt.events,
        })
    }

    /// Creates a ticket with its first article.
    pub async fn create_ticket(&self, actor: &Actor, input: NewTicket) -> Result<Committed> {
        self.create(actor, input, None).await
    }

    /// Creates a ticket and applies, in the same commit, the operation `then` derives from the
    /// new ticket (the mail layer's auto-response): one durable write instead of two, and
    /// never a ticket without the answer it was promised.
    pub async fn create_ticket_then(
        &self,
        actor: &Actor,
        input: NewTicket,
        then: impl Fn(&Config, &Ticket) -> Option<Op> + Send + Sync,
    ) -> Result<Committed> {
        self.create(actor, input, Some(&then)).await
    }

    async fn create(
        &self,
        actor: &Actor,
        mut input: NewTicket,
        then: Option<Then<'_>>,
    ) -> Result<Committed> {
        // The ticket records its customer's company, whatever the visibility switch says now,
        // so turning company visibility on later covers existing tickets too.
        if input.customer_company.is_none() {
            let login = input.customer.as_deref().or(match actor {
                Actor::Customer(login) => Some(login.as_str()),
                _ => None,
            });
            if let Some(login) = login {
                input.customer_company = self.store.customer(login).await?.and_then(|c| c.company);
            }
        }
        Ok(self.execute(actor, Plan::Create(&input, then)).await?.1)
    }

    /// Applies one operation to a ticket.
    pub async fn apply(&self, actor: &Actor, ticket: TicketId, op: Op) -> Result<Committed> {
        Ok(self.execute(actor, Plan::Apply(ticket, &op)).await?.1)
    }

    /// Applies several operations to a ticket in one commit, each to the ticket the ones
    /// before it left (a one-click action: answer, then state and queue); all or none.
    pub async fn apply_all(
        &self,
        actor: &Actor,
        ticket: TicketId,
        ops: &[Op],
    ) -> Result<Committed> {
        Ok(self.execute(actor, Plan::ApplyAll(ticket, ops)).await?.1)
    }

    /// Locks the ticket for the acting agent (who becomes owner).
    pub async fn lock(&self, actor: &Actor, ticket: TicketId) -> Result<Committed> {
        self.apply(actor, ticket, Op::Lock).await
    }

    /// Releases the lock (holder or admin).
    pub async fn unlock(&self, actor: &Actor, ticket: TicketId) -> Result<Committed> {
        self.apply(actor, ticket, Op::Unlock).await
    }

    /// Moves the ticket into another queue.
    pub async fn move_ticket(
        &self,
        actor: &Actor,
        ticket: TicketId,
        queue: &str,
    ) -> Result<Committed> {
        let op = Op::Move {
            queue: queue.to_string(),
        };
        self.apply(actor, ticket, op).await
    }

    /// Sets the state (pending states need `pending_until`).
    pub async fn set_state(
        &self,
        actor: &Actor,
        ticket: TicketId,
        state: &str,
        pending_until: Option<DateTime<Utc>>,
    ) -> Result<Committed> {
        let op = Op::SetState {
            state: state.to_string(),
            pending_until,
        };
        self.apply(actor, ticket, op).await
    }

    /// Sets the priority.
    pub async fn set_priority(
        &self,
        actor: &Actor,
        ticket: TicketId,
        priority: Priority,
    ) -> Result<Committed> {
        self.apply(actor, ticket, Op::SetPriority { priority })
            .await
    }

    /// Sets the owner.
    pub async fn set_owner(
        &self,
        actor: &Actor,
        ticket: TicketId,
        owner: Option<&str>,
    ) -> Result<Committed> {
        let op = Op::SetOwner {
            owner: owner.map(String::from),
        };
        self.apply(actor, ticket, op).await
    }

    /// Adds a note, naming agents to notify (they appear in the `AddNote` event).
    pub async fn note(
        &self,
        actor: &Actor,
        ticket: TicketId,
        message: Message,
        visible_to_customer: bool,
        notify: &[&str],
    ) -> Result<Committed> {
        let op = Op::Note {
            article: self.new_article_id(),
            message,
            visible_to_customer,
            notify: notify.iter().map(|s| s.to_string()).collect(),
        };
        self.apply(actor, ticket, op).await
    }

    /// Answers the customer by email; the `SendAnswer` event is the outbox entry.
    pub async fn reply(
        &self,
        actor: &Actor,
        ticket: TicketId,
        message: Message,
    ) -> Result<Committed> {
        let op = Op::Reply {
            article: self.new_article_id(),
            message,
            channel: Channel::Email,
            next_state: None,
            faq: None,
        };
        self.apply(actor, ticket, op).await
    }

    /// A customer's message on an existing ticket, disposed of by the queue's follow-up policy;
    /// follow-ups to merged tickets go to the surviving ticket.
    pub async fn follow_up(
        &self,
        actor: &Actor,
        ticket: TicketId,
        message: Message,
        channel: Channel,
        unknown_sender: bool,
    ) -> Result<FollowedUp> {
        self.follow_up_inner(actor, ticket, message, channel, unknown_sender, None)
            .await
    }

    /// A follow-up, and in the same commit the operation `then` derives from what the policy
    /// did with it and the ticket that took it (the mail layer's auto-response): one durable
    /// write instead of two.
    pub async fn follow_up_then(
        &self,
        actor: &Actor,
        ticket: TicketId,
        message: Message,
        channel: Channel,
        unknown_sender: bool,
        then: impl Fn(&Config, FollowUpAction, &Ticket) -> Option<Op> + Send + Sync,
    ) -> Result<FollowedUp> {
        self.follow_up_inner(actor, ticket, message, channel, unknown_sender, Some(&then))
            .await
    }

    async fn follow_up_inner(
        &self,
        actor: &Actor,
        ticket: TicketId,
        message: Message,
        channel: Channel,
        unknown_sender: bool,
        then: Option<FollowUpThen<'_>>,
    ) -> Result<FollowedUp> {
        let plan = Plan::FollowUp {
            ticket,
            article: self.new_article_id(),
            message: &message,
            channel,
            unknown_sender,
            then,
        };
        let (action, committed) = self.execute(actor, plan).await?;
        Ok(FollowedUp { action, committed })
    }

    /// Merges `source` into `target` (or the ticket `target` was merged into).
    pub async fn merge(
        &self,
        actor: &Actor,
        source: TicketId,
        target: TicketId,
    ) -> Result<Committed> {
        Ok(self.execute(actor, Plan::Merge(source, target)).await?.1)
    }

    /// Splits an article off into a new ticket in `queue`, linked as the source's child.
    /// Returns the new ticket.
    pub async fn split(
        &self,
        actor: &Actor,
        source: TicketId,
        article: ArticleId,
        queue: &str,
        title: Option<&str>,
    ) -> Result<Committed> {
        let plan = Plan::Split {
            source,
            article,
            queue,
            title,
        };
        Ok(self.execute(actor, plan).await?.1)
    }

    /// Links two tickets; `kind` is what `b` is to `a`.
    pub async fn link(
        &self,
        actor: &Actor,
        a: TicketId,
        b: TicketId,
        kind: LinkKind,
    ) -> Result<Committed> {
        Ok(self.execute(actor, Plan::Link(a, b, kind)).await?.1)
    }

    /// A ticket, if `actor` may see it (otherwise `NotFound`: existence is not revealed).
    pub async fn ticket(&self, actor: &Actor, id: TicketId) -> Result<Ticket> {
        Ok(self.visible(actor, id).await?.0)
    }

    /// A ticket `actor` may see, with who the actor is as a viewer.
    async fn visible(&self, actor: &Actor, id: TicketId) -> Result<(Ticket, Viewer)> {
        let (config, viewer) = self.door(actor).await?;
        match self.store.ticket(id).await? {
            Some(t) if viewer.sees(&config, &t) => Ok((t, viewer)),
            _ => Err(Error::NotFound(format!("ticket {id}"))),
        }
    }

    /// A ticket by its number as typed by a person: validated against the configured format
    /// (a wrong check digit is an error, not a miss), then looked up for `actor`.
    pub async fn find(&self, actor: &Actor, number: &str) -> Result<Ticket> {
        let (config, viewer) = self.door(actor).await?;
        let number = config.numbers.parse(number)?;
        match self.store.ticket_by_number(&number).await? {
            Some(t) if viewer.sees(&config, &t) => Ok(t),
            _ => Err(Error::NotFound(format!("ticket {number}"))),
        }
    }

    /// The articles of a ticket that `actor` may see (customers: only customer-visible ones).
    pub async fn articles(&self, actor: &Actor, id: TicketId) -> Result<Vec<Article>> {
        let internal = self.visible(actor, id).await?.1.sees_internal();
        let mut articles = self.store.articles(id).await?;
        articles.retain(|a| internal || a.visible_to_customer);
        Ok(articles)
    }

    /// The history of a ticket; customers see only what concerns them.
    pub async fn history(&self, actor: &Actor, id: TicketId) -> Result<Vec<Event>> {
        let internal = self.visible(actor, id).await?.1.sees_internal();
        let mut history = self.store.history(id).await?;
        history.retain(|e| internal || e.kind.customer_visible());
        if !internal {
            for event in &mut history {
                // Whom a note notifies is the agents' business.
                if let EventKind::AddNote { notify, .. } = &mut event.kind {
                    notify.clear();
                }
            }
        }
        Ok(history)
    }

    /// Attachment bytes, if `actor` may see an article carrying them on `ticket`.
    pub async fn attachment(
        &self,
        actor: &Actor,
        ticket: TicketId,
        hash: &ContentHash,
    ) -> Result<Vec<u8>> {
        let articles = self.articles(actor, ticket).await?;
        if !articles
            .iter()
            .any(|a| a.attachments.iter().any(|x| x.hash == *hash))
        {
            return Err(Error::NotFound(format!("attachment {}", hash.0)));
        }
        self.store
            .blob(hash)
            .await?
            .ok_or_else(|| Error::NotFound(format!("attachment {}", hash.0)))
    }

    /// The queue view for `actor`: the store query restricted, inside the store, to what the
    /// actor may see (an agent's readable queues; a customer's own tickets).
    pub async fn queue_view(&self, actor: &Actor, mut query: TicketQuery) -> Result<TicketPage> {
        let (config, viewer) = self.door(actor).await?;
        match viewer {
            Viewer::System => {}
            Viewer::Agent(login) => {
                let readable = readable_queues(&config, &login);
                let allowed: BTreeSet<String> = match query.queues.take() {
                    Some(wanted) => wanted.intersection(&readable).cloned().collect(),
                    None => readable,
                };
                if allowed.is_empty() {
                    return Ok(TicketPage::default());
                }
                query.queues = Some(allowed);
            }
            Viewer::Customer(scope) => query.customer = Some(scope),
        }
        Ok(self.store.query(&query).await?)
    }

    /// Runs maintenance as of `now`: releases expired locks, sends pending reminders,
    /// auto-closes due pending tickets, emits due escalation warnings and breaches. Touches only
    /// due tickets (from the store's due-time indexes), in bounded batches, each batch one group
    /// commit. Idempotent and safe to run from several processes at once: compare-and-swap
    /// decides, and a loser recomputes from the winner's result (finding nothing left to do).
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport> {
        let config = self.config().await?;
        let mut report = TickReport::default();
        for kind in DueKind::ALL {
            let mut done: HashSet<TicketId> = HashSet::new();
            loop {
                let due = self.store.due(kind, now, self.tick_batch).await?;
                let fresh: Vec<Ticket> = due
                    .iter()
                    .filter(|t| !done.contains(&t.id))
                    .cloned()
                    .collect();
                if fresh.is_empty() {
                    break;
                }
                let ctx = Ctx {
                    config: &config,
                    actor: &Actor::System,
                    customer: None,
                    now,
                };
                let mut changes = Vec::with_capacity(fresh.len());
                let mut ids = Vec::with_capacity(fresh.len());
                for ticket in &fresh {
                    done.insert(ticket.id);
                    let change = rules::maintain(ctx, ticket);
                    if change.writes.iter().any(|w| !w.events.is_empty()) {
                        ids.push(ticket.id);
                        changes.push(change);
                    }
                }
                let results = self.store.commit_batch(changes).await?;
                for (id, result) in ids.into_iter().zip(results) {
                    let events = match result {
                        Ok(receipt) => receipt.events,
                        // Someone else changed it meanwhile: recompute from their result.
                        Err(StoreError::Conflict(_)) => {
                            self.execute(&Actor::System, Plan::Tick(id, now))
                                .await?
                                .1
                                .events
                        }
                        Err(e) => return Err(e.into()),
                    };
                    report.count(&events);
                }
                if due.len() < self.tick_batch {
                    break;
                }
            }
        }
        Ok(report)
    }

    /// When `tick` next has work: the earliest due time over all kinds, so a caller can sleep
    /// until then instead of polling.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let mut next = None;
        for kind in DueKind::ALL {
            if let Some(at) = self.store.next_due(kind).await? {
                next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
            }
        }
        Ok(next)
    }
}
