//! The rules: every change to a ticket is a pure function of (ticket, configuration, actor,
//! operation, now) that returns the [`Change`] to commit. No I/O, no clock, no randomness:
//! identities and numbers come in from the caller. This is what makes the engine
//! property-testable and identical on every backend.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::acl::{CustomerScope, Permission, may};
use crate::article::{Article, ArticleId, Blob, Channel, Message, Sender};
use crate::config::{Config, FollowUpPolicy, Queue};
use crate::error::{Error, Result};
use crate::escalation;
use crate::escalation::Escalation;
use crate::event::{Actor, Event, EventKind};
use crate::number::TicketNumber;
use crate::state::{State, StateType};
use crate::store::{Change, TicketWrite};
use crate::ticket::{DueKind, Link, LinkKind, Lock, Priority, Ticket, TicketId};

/// Everything a rule may look at besides the ticket.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The configuration snapshot.
    pub config: &'a Config,
    /// Who acts.
    pub actor: &'a Actor,
    /// The customer's visibility scope, when the actor is a customer.
    pub customer: Option<&'a CustomerScope>,
    /// The time of the operation.
    pub now: DateTime<Utc>,
}

/// A new ticket as a caller describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// Title.
    pub title: String,
    /// Queue.
    pub queue: String,
    /// State name; the configured new state when absent.
    #[serde(default)]
    pub state: Option<String>,
    /// Priority; 3 when absent.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Customer login (or address).
    #[serde(default)]
    pub customer: Option<String>,
    /// The customer's company.
    #[serde(default)]
    pub customer_company: Option<String>,
    /// Owner; the creating agent when absent.
    #[serde(default)]
    pub owner: Option<String>,
    /// Who wrote the first article (usually the customer).
    pub sender: Sender,
    /// How it arrived.
    pub channel: Channel,
    /// The first article.
    pub message: Message,
}

impl NewTicket {
    /// A customer request arriving on `channel` in `queue`.
    pub fn new(
        queue: impl Into<String>,
        title: impl Into<String>,
        channel: Channel,
        message: Message,
    ) -> NewTicket {
        NewTicket {
            title: title.into(),
            queue: queue.into(),
            state: None,
            priority: None,
            customer: None,
            customer_company: None,
            owner: None,
            sender: Sender::Customer,
            channel,
            message,
        }
    }

    /// Sets the customer.
    pub fn for_customer(mut self, login: impl Into<String>) -> NewTicket {
        self.customer = Some(login.into());
        self
    }
}

/// The fresh identities a rule that creates things needs (drawn by the Desk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// The new ticket's id.
    pub ticket: TicketId,
    /// Its number.
    pub number: TicketNumber,
    /// The id of its first article.
    pub article: ArticleId,
}

/// An operation on one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Op {
    /// Take the lock (and ownership).
    Lock,
    /// Release the lock.
    Unlock,
    /// Move to another queue.
    Move {
        /// Target queue.
        queue: String,
    },
    /// Change the state.
    SetState {
        /// State name.
        state: String,
        /// Required for pending states.
        pending_until: Option<DateTime<Utc>>,
    },
    /// Change the priority.
    SetPriority {
        /// New priority.
        priority: Priority,
    },
    /// Set or clear the owner.
    SetOwner {
        /// Agent login.
        owner: Option<String>,
    },
    /// Set or clear the responsible agent.
    SetResponsible {
        /// Agent login.
        responsible: Option<String>,
    },
    /// Change the title.
    SetTitle {
        /// New title.
        title: String,
    },
    /// Change the customer.
    SetCustomer {
        /// Customer login.
        customer: Option<String>,
        /// Company.
        company: Option<String>,
    },
    /// Add a note.
    Note {
        /// The new article's id.
        article: ArticleId,
        /// Content; subject defaults to the ticket title.
        message: Message,
        /// Show it to the customer.
        visible_to_customer: bool,
        /// Agents to notify.
        notify: Vec<String>,
    },
    /// Answer the customer.
    Reply {
        /// The new article's id.
        article: ArticleId,
        /// Content.
        message: Message,
        /// Channel (email unless phoned).
        channel: Channel,
        /// State afterwards; a new ticket becomes open when absent.
        next_state: Option<String>,
        /// The FAQ entry this answer sends (its text and attachments are in `message`), for
        /// the history.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        faq: Option<u64>,
    },
    /// A message from the customer on an existing ticket (not closed, or reopened/rejected per
    /// the queue's follow-up policy; see [`follow_up_action`]).
    FollowUp {
        /// The new article's id.
        article: ArticleId,
        /// Content.
        message: Message,
        /// How it arrived.
        channel: Channel,
        /// The sender is neither the ticket's customer nor anyone who wrote on it.
        unknown_sender: bool,
    },
    /// Start watching (the acting agent).
    Watch,
    /// Stop watching (the acting agent).
    Unwatch,
    /// Set the archive flag.
    Archive {
        /// New value.
        archived: bool,
    },
    /// The system answers the customer automatically (receipt, follow-up, reject): an outbox
    /// entry like an agent's answer, which neither meets a deadline nor changes the state.
    AutoReply {
        /// The new article's id.
        article: ArticleId,
        /// Content (recipient, subject, threading headers).
        message: Message,
        /// The rate limit this answer counts against (the sender's auto-responses today).
        #[serde(skip)]
        quota: Option<crate::store::Quota>,
    },
    /// A delivery-status report says a mail from this ticket did not arrive: recorded as an
    /// internal system article for the agents to act on.
    Bounce {
        /// The new article's id.
        article: ArticleId,
        /// The report.
        message: Message,
        /// The recipient that failed, as the report names it.
        recipient: String,
    },
}

/// What a follow-up to `ticket` does under its queue's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpAction {
    /// Add it to the ticket (which stays or becomes open).
    Append,
    /// Add it and reopen the closed ticket.
    Reopen,
    /// Record it, keep the ticket closed, answer with the reject response.
    Reject,
    /// Open a new ticket linked to the closed one.
    NewTicket,
}

/// The disposition of a follow-up to `ticket` (resolve merged tickets first).
pub fn follow_up_action(config: &Config, ticket: &Ticket) -> FollowUpAction {
    if !ticket.state_type.is_closed() {
        return FollowUpAction::Append;
    }
    match config.queue(&ticket.queue).map(|q| q.follow_up) {
        Some(FollowUpPolicy::Reject) => FollowUpAction::Reject,
        Some(FollowUpPolicy::NewTicket) => FollowUpAction::NewTicket,
        Some(FollowUpPolicy::Reopen) | None => FollowUpAction::Reopen,
    }
}

/// A ticket being changed: collects the new state, articles and events.
struct Draft<'a> {
    ctx: Ctx<'a>,
    /// The ticket before the change; `None` while creating.
    before: Option<&'a Ticket>,
    expected: Option<u64>,
    ticket: Ticket,
    articles: Vec<Article>,
    blobs: Vec<Blob>,
    events: Vec<Event>,
}

impl<'a> Draft<'a> {
    fn of(ctx: Ctx<'a>, ticket: &'a Ticket) -> Draft<'a> {
        Draft {
            expected: Some(ticket.version),
            before: Some(ticket),
            ..Draft::new(ctx, ticket.clone())
        }
    }

    /// A draft creating `ticket`.
    fn new(ctx: Ctx<'a>, ticket: Ticket) -> Draft<'a> {
        Draft {
            ctx,
            before: None,
            expected: None,
            ticket,
            articles: Vec::new(),
            blobs: Vec::new(),
            events: Vec::new(),
        }
    }

    fn event(&mut self, kind: EventKind) {
        self.events.push(Event {
            seq: 0,
            ticket: self.ticket.id,
            number: self.ticket.number.clone(),
            at: self.ctx.now,
            actor: self.ctx.actor.clone(),
            visible_in: self.ticket.queue.clone(),
            kind,
        });
    }

    /// Adds an article built from `message`; the subject defaults to the ticket title.
    fn article(
        &mut self,
        id: ArticleId,
        sender: Sender,
        channel: Channel,
        visible_to_customer: bool,
        message: &Message,
    ) {
        let mut attachments = Vec::with_capacity(message.attachments.len());
        for attachment in &message.attachments {
            let (reference, blob) = attachment.clone().into_parts();
            attachments.push(reference);
            if !self.blobs.iter().any(|b| b.hash == blob.hash) {
                self.blobs.push(blob);
            }
        }
        let from = if message.from.is_empty() {
            author_address(self.ctx)
        } else {
            message.from.clone()
        };
        let subject = if message.subject.is_empty() {
            self.ticket.title.clone()
        } else {
            message.subject.clone()
        };
        self.articles.push(Article {
            id,
            ticket: self.ticket.id,
            sender,
            channel,
            visible_to_customer,
            author: self.ctx.actor.clone(),
            from,
            to: message.to.clone(),
            cc: message.cc.clone(),
            subject,
            body: message.body.clone(),
            body_html: message.body_html.clone(),
            message_id: message.message_id.clone(),
            in_reply_to: message.in_reply_to.clone(),
            references: message.references.clone(),
            attachments,
            created: self.ctx.now,
        });
    }

    fn set_state(&mut self, state: &State) {
        let from = std::mem::replace(&mut self.ticket.state, state.name.clone());
        self.ticket.state_type = state.state_type;
        self.event(EventKind::StateUpdate {
            from,
            to: state.name.clone(),
            state_type: state.state_type,
        });
        if !state.state_type.is_pending() && self.ticket.pending_until.is_some() {
            self.ticket.pending_until = None;
            self.event(EventKind::SetPendingTime { until: None });
        }
        if state.state_type.is_closed() {
            self.unlock();
        }
    }

    /// A state change an agent asked for: only along the configured transitions.
    fn change_state(&mut self, to: &State) -> Result<()> {
        let from = state(self.ctx.config, &self.ticket.state)?;
        if !self.ctx.config.transition_allowed(from, to) {
            return Err(Error::Transition {
                number: self.ticket.number.clone(),
                from: self.ticket.state.clone(),
                to: to.name.clone(),
            });
        }
        self.set_state(to);
        Ok(())
    }

    fn unlock(&mut self) {
        if let Lock::Locked { by, .. } = std::mem::take(&mut self.ticket.lock) {
            self.event(EventKind::Unlock { by });
        }
    }

    fn lock_to(&mut self, login: &str) -> Result<()> {
        let queue = self
            .ctx
            .config
            .queue(&self.ticket.queue)
            .ok_or_else(|| unknown_queue(&self.ticket.queue))?;
        let until = lock_until(self.ctx, queue);
        self.ticket.lock = Lock::Locked {
            by: login.to_string(),
            since: self.ctx.now,
            until,
        };
        self.event(EventKind::Lock {
            by: login.to_string(),
            until,
        });
        self.set_owner(Some(login.to_string()));
        Ok(())
    }

    fn set_owner(&mut self, owner: Option<String>) {
        if self.ticket.owner != owner {
            let from = std::mem::replace(&mut self.ticket.owner, owner.clone());
            self.event(EventKind::OwnerUpdate { from, to: owner });
        }
    }

    /// A new ticket becomes open when an agent works on it.
    fn open_if_new(&mut self) -> Result<()> {
        if self.ticket.state_type == StateType::New {
            let open = state(self.ctx.config, &self.ctx.config.rules.open_state)?;
            self.set_state(open);
        }
        Ok(())
    }

    fn link(&mut self, other: &Ticket, kind: LinkKind) {
        let link = Link {
            ticket: other.id,
            number: other.number.clone(),
            kind,
        };
        if self.ticket.links.insert(link) {
            self.event(EventKind::TicketLinkAdd {
                other: other.number.clone(),
                kind,
            });
        }
    }

    fn finish(mut self) -> TicketWrite {
        // Who is told of what happened, decided with what happened (see `notify`).
        let notices: Vec<EventKind> =
            self.events
                .iter()
                .filter_map(|event| {
                    let (reason, agents) =
                        crate::notify::notifications(self.ctx.config, &self.ticket, event);
                    let article = match &event.kind {
                        EventKind::AddNote { article, .. }
                        | EventKind::FollowUp { article, .. } => Some(*article),
                        EventKind::NewTicket { .. } => self.articles.first().map(|a| a.id),
                        _ => None,
                    };
                    (!agents.is_empty()).then_some(EventKind::Notify {
                        reason,
                        agents,
                        article,
                    })
                })
                .collect();
        for notice in notices {
            self.event(notice);
        }
        let mut ticket = self.ticket;
        let changed = !self.events.is_empty();
        if changed {
            // The holder acting on the ticket (an agent article) restarts the lock's timer.
            if let Lock::Locked { by, until, .. } = &mut ticket.lock
                && until.is_some()
                && self
                    .articles
                    .iter()
                    .any(|a| a.sender == Sender::Agent && a.author.agent_login() == Some(by))
                && let Some(queue) = self.ctx.config.queue(&ticket.queue)
            {
                *until = lock_until(self.ctx, queue);
            }
            escalation::refresh(
                self.ctx.config,
                self.before,
                &mut ticket,
                &self.articles,
                self.ctx.now,
            );
            ticket.version = self.expected.map_or(1, |v| v + 1);
            ticket.changed = self.ctx.now;
        }
        let mut events = self.events;
        for event in &mut events {
            event.visible_in.clone_from(&ticket.queue);
        }
        TicketWrite {
            tallies: crate::stats::tallies(self.before, &ticket, &events),
            ticket,
            expected_version: self.expected,
            articles: self.articles,
            blobs: self.blobs,
            events,
        }
    }
}

/// When a lock taken now in `queue` expires: its unlock timeout in the queue's working time.
fn lock_until(ctx: Ctx<'_>, queue: &Queue) -> Option<DateTime<Utc>> {
    let timeout = chrono::Duration::from_std(queue.unlock_timeout?).ok()?;
    ctx.config.working_time(&queue.name).add(ctx.now, timeout)
}

fn author_address(ctx: Ctx<'_>) -> String {
    match ctx.actor {
        Actor::Agent(login) => match ctx.config.agent(login) {
            Some(a) if !a.email.is_empty() => format!("{} <{}>", a.name, a.email),
            _ => login.clone(),
        },
        Actor::Customer(login) => login.clone(),
        Actor::System => "system".into(),
    }
}

fn unknown_queue(name: &str) -> Error {
    Error::NotFound(format!("queue {name:?}"))
}

fn state<'c>(config: &'c Config, name: &str) -> Result<&'c State> {
    config
        .state(name)
        .ok_or_else(|| Error::Invalid(format!("unknown state {name:?}")))
}

fn require(ctx: Ctx<'_>, queue: &str, perm: Permission, action: &str) -> Result<()> {
    if ctx.config.queue(queue).is_none() {
        return Err(unknown_queue(queue));
    }
    if may(ctx.config, ctx.actor, queue, perm) {
        Ok(())
    } else {
        Err(Error::Denied {
            actor: ctx.actor.to_string(),
            action: action.to_string(),
            queue: queue.to_string(),
        })
    }
}

/// Requires an agent (or the system) with `perm`; customers may not do agent work. Whoever
/// cannot even see the ticket (an agent after handing it into a transfer queue, a customer
/// probing other people's tickets) learns nothing about it: `NotFound`, as for a read, not a
/// `Denied` naming its queue.
fn agent_only(ctx: Ctx<'_>, ticket: &Ticket, perm: Permission, action: &str) -> Result<()> {
    let unseen = match ctx.actor {
        Actor::Agent(_) => !may(ctx.config, ctx.actor, &ticket.queue, Permission::Ro),
        Actor::Customer(_) => !customer_owns(ctx, ticket),
        Actor::System => false,
    };
    if unseen {
        return Err(Error::NotFound(format!("ticket {}", ticket.number)));
    }
    require(ctx, &ticket.queue, perm, action)
}

/// A Message-ID for an outgoing article, in the domain of the queue's system address.
pub fn message_id(config: &Config, queue: &str, article: ArticleId) -> String {
    let domain = config
        .system_address(queue)
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, domain)| domain.trim_end_matches('>').trim())
        .filter(|d| !d.is_empty())
        .unwrap_or("ticketcore.invalid");
    format!("{}@{domain}", article.0.simple())
}

/// Only the system (mail handling) does this.
fn system_only(ctx: Ctx<'_>, action: &str) -> Result<()> {
    match ctx.actor {
        Actor::System => Ok(()),
        other => Err(Error::Invalid(format!(
            "only the system may {action}, not {other}"
        ))),
    }
}

/// While locked, only the holder (or the system) may answer or change the ticket.
fn holder_only(ctx: Ctx<'_>, ticket: &Ticket) -> Result<()> {
    match (ticket.lock.holder(), ctx.actor) {
        (Some(by), Actor::Agent(login)) if by != login => Err(Error::Locked {
            number: ticket.number.clone(),
            by: by.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Requires that `login` is a valid agent who may own tickets in `queue`.
fn assignable(config: &Config, login: &str, queue: &str) -> Result<()> {
    match config.agent(login) {
        Some(a) if a.valid => {
            if may(config, &Actor::agent(login), queue, Permission::Owner) {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "agent {login:?} has no owner permission in queue {queue:?}"
                )))
            }
        }
        _ => Err(Error::NotFound(format!("agent {login:?}"))),
    }
}

/// Whether the acting customer may act on `ticket`.
fn customer_owns(ctx: Ctx<'_>, ticket: &Ticket) -> bool {
    ctx.customer.is_some_and(|scope| scope.sees(ticket))
}

/// Creates a ticket with its first article.
pub fn create(ctx: Ctx<'_>, input: &NewTicket, fresh: &Fresh) -> Result<Change> {
    let config = ctx.config;
    if ctx.config.queue(&input.queue).is_none() {
        return Err(unknown_queue(&input.queue));
    }
    match ctx.actor {
        Actor::Agent(_) => require(ctx, &input.queue, Permission::Create, "create tickets")?,
        Actor::Customer(login) if input.customer.as_ref().is_some_and(|c| c != login) => {
            return Err(Error::Invalid(
                "customers create tickets only for themselves".into(),
            ));
        }
        Actor::Customer(_) | Actor::System => {}
    }
    let title = input.title.trim();
    if title.is_empty() {
        return Err(Error::Invalid("a ticket needs a title".into()));
    }
    let state = state(
        config,
        input.state.as_deref().unwrap_or(&config.rules.new_state),
    )?;
    if state.state_type.is_pending() || state.state_type == StateType::Merged {
        return Err(Error::Invalid(format!(
            "a ticket cannot start in state {:?}",
            state.name
        )));
    }
    let customer = input.customer.clone().or_else(|| match ctx.actor {
        Actor::Customer(login) => Some(login.clone()),
        _ => None,
    });
    let customer_company = input
        .customer_company
        .clone()
        .or_else(|| ctx.customer.and_then(|c| c.company.clone()));
    let owner = input
        .owner
        .clone()
        .or_else(|| ctx.actor.agent_login().map(String::from));
    if let Some(owner) = &input.owner {
        assignable(config, owner, &input.queue)?;
    }
    let priority = input.priority.unwrap_or_default();
    let ticket = Ticket {
        id: fresh.ticket,
        number: fresh.number.clone(),
        title: title.to_string(),
        queue: input.queue.clone(),
        state: state.name.clone(),
        state_type: state.state_type,
        priority,
        lock: Lock::Unlocked,
        owner: owner.clone(),
        responsible: None,
        customer: customer.clone(),
        customer_company,
        pending_until: None,
        reminded: false,
        escalation: Escalation::default(),
        archived: false,
        merged_into: None,
        links: Default::default(),
        watchers: Default::default(),
        set_aside: Default::default(),
        created: ctx.now,
        changed: ctx.now,
        version: 0,
    };
    let event = EventKind::NewTicket {
        queue: ticket.queue.clone(),
        state: ticket.state.clone(),
        priority,
        customer,
    };
    let mut draft = Draft::new(ctx, ticket);
    draft.event(event);
    let article = fresh.article;
    draft.event(match input.channel {
        Channel::Email => EventKind::EmailCustomer { article },
        Channel::Phone => EventKind::PhoneCallCustomer { article },
        Channel::Note | Channel::Web | Channel::Chat => EventKind::WebRequestCustomer { article },
    });
    let visible = input.sender != Sender::System || input.channel != Channel::Note;
    draft.article(
        article,
        input.sender,
        input.channel,
        visible,
        &input.message,
    );
    if owner.is_some() {
        draft.event(EventKind::OwnerUpdate {
            from: None,
            to: owner,
        });
    }
    Ok(Change {
        quotas: Vec::new(),
        writes: vec![draft.finish()],
    })
}

/// Applies `op` to `ticket`. A change with no events means nothing changed (e.g. locking a
/// ticket one already holds); the Desk then commits nothing.
pub fn apply(ctx: Ctx<'_>, ticket: &Ticket, op: &Op) -> Result<Change> {
    let config = ctx.config;
    if ticket.merged_into.is_some() && !matches!(op, Op::Watch | Op::Unwatch | Op::Archive { .. }) {
        return Err(Error::Invalid(format!(
            "ticket {} was merged; work on the surviving ticket",
            ticket.number
        )));
    }
    let mut d = Draft::of(ctx, ticket);
    // A change may be what maintenance was missing: its set-aside due times count again.
    d.ticket.set_aside.clear();
    match op {
        Op::Lock => {
            agent_only(ctx, ticket, Permission::Owner, "lock tickets")?;
            let login = ctx
                .actor
                .agent_login()
                .ok_or_else(|| Error::Invalid("only agents hold locks".into()))?;
            match ticket.lock.holder() {
                Some(by) if by == login => {}
                Some(by) => {
                    return Err(Error::Locked {
                        number: ticket.number.clone(),
                        by: by.to_string(),
                    });
                }
                None => d.lock_to(login)?,
            }
        }
        Op::Unlock => {
            agent_only(ctx, ticket, Permission::Ro, "unlock tickets")?;
            let admin = ctx
                .actor
                .agent_login()
                .and_then(|l| config.agent(l))
                .is_some_and(|a| a.admin);
            if !admin {
                holder_only(ctx, ticket)?;
            }
            d.unlock();
        }
        Op::Move { queue } => {
            agent_only(ctx, ticket, Permission::Rw, "move tickets out")?;
            holder_only(ctx, ticket)?;
            require(ctx, queue, Permission::MoveInto, "move tickets in")?;
            if *queue != ticket.queue {
                let from = std::mem::replace(&mut d.ticket.queue, queue.clone());
                d.event(EventKind::Move {
                    from,
                    to: queue.clone(),
                });
                // A holder who cannot see the new queue cannot work on it: release the lock.
                if let Some(by) = ticket.lock.holder()
                    && !may(config, &Actor::agent(by), queue, Permission::Ro)
                {
                    d.unlock();
                }
            }
        }
        Op::SetState {
            state: name,
            pending_until,
        } => {
            agent_only(ctx, ticket, Permission::Rw, "change states")?;
            holder_only(ctx, ticket)?;
            let to = state(config, name)?;
            if to.state_type.is_pending() && pending_until.is_none() {
                return Err(Error::Invalid(format!(
                    "state {name:?} is a pending state and needs a pending time"
                )));
            }
            if *name != ticket.state {
                d.change_state(to)?;
            }
            if to.state_type.is_pending() && ticket.pending_until != *pending_until {
                d.ticket.pending_until = *pending_until;
                d.ticket.reminded = false;
                d.event(EventKind::SetPendingTime {
                    until: *pending_until,
                });
            }
        }
        Op::SetPriority { priority } => {
            agent_only(ctx, ticket, Permission::Priority, "change priorities")?;
            holder_only(ctx, ticket)?;
            if *priority != ticket.priority {
                d.ticket.priority = *priority;
                d.event(EventKind::PriorityUpdate {
                    from: ticket.priority,
                    to: *priority,
                });
            }
        }
        Op::SetOwner { owner } => {
            agent_only(ctx, ticket, Permission::Owner, "set owners")?;
            holder_only(ctx, ticket)?;
            if let Some(login) = owner {
                assignable(config, login, &ticket.queue)?;
            }
            d.set_owner(owner.clone());
        }
        Op::SetResponsible { responsible } => {
            agent_only(ctx, ticket, Permission::Owner, "set responsibles")?;
            holder_only(ctx, ticket)?;
            if let Some(login) = responsible {
                assignable(config, login, &ticket.queue)?;
            }
            if ticket.responsible != *responsible {
                d.ticket.responsible = responsible.clone();
                d.event(EventKind::ResponsibleUpdate {
                    from: ticket.responsible.clone(),
                    to: responsible.clone(),
                });
            }
        }
        Op::SetTitle { title } => {
            agent_only(ctx, ticket, Permission::Rw, "change titles")?;
            holder_only(ctx, ticket)?;
            let title = title.trim();
            if title.is_empty() {
                return Err(Error::Invalid("a ticket needs a title".into()));
            }
            if title != ticket.title {
                d.ticket.title = title.to_string();
                d.event(EventKind::TitleUpdate {
                    from: ticket.title.clone(),
                    to: title.to_string(),
                });
            }
        }
        Op::SetCustomer { customer, company } => {
            agent_only(ctx, ticket, Permission::Rw, "change customers")?;
            holder_only(ctx, ticket)?;
            if ticket.customer != *customer || ticket.customer_company != *company {
                d.ticket.customer = customer.clone();
                d.ticket.customer_company = company.clone();
                d.event(EventKind::CustomerUpdate {
                    from: ticket.customer.clone(),
                    to: customer.clone(),
                });
            }
        }
        Op::Note {
            article,
            message,
            visible_to_customer,
            notify,
        } => {
            // Notes are commentary, not changes: allowed on tickets someone else holds
            // (OTRS: AgentTicketNote RequiredLock = 0), so a colleague can always chime in.
            agent_only(ctx, ticket, Permission::Note, "add notes")?;
            if let Some(unknown) = notify.iter().find(|n| config.agent(n).is_none()) {
                return Err(Error::NotFound(format!("agent {unknown:?} to notify")));
            }
            d.article(
                *article,
                Sender::Agent,
                Channel::Note,
                *visible_to_customer,
                message,
            );
            d.event(EventKind::AddNote {
                article: *article,
                notify: notify.clone(),
                visible_to_customer: *visible_to_customer,
            });
            if config.rules.note_opens_new_ticket {
                d.open_if_new()?;
            }
        }
        Op::Reply {
            article,
            message,
            channel,
            next_state,
            faq,
        } => {
            agent_only(ctx, ticket, Permission::Rw, "answer tickets")?;
            holder_only(ctx, ticket)?;
            if ticket.state_type == StateType::Removed {
                return Err(Error::Invalid(format!(
                    "ticket {} was removed",
                    ticket.number
                )));
            }
            if let (None, Some(login)) = (ticket.lock.holder(), ctx.actor.agent_login()) {
                d.lock_to(login)?;
            }
            let mut message = message.clone();
            if message.to.is_empty() {
                message.to = ticket.customer.clone().unwrap_or_default();
            }
            if message.subject.is_empty() {
                let tag = config.numbers.subject_tag(&ticket.number);
                message.subject = format!("[{tag}] {}", ticket.title);
            }
            if message.message_id.is_none() && *channel == Channel::Email {
                // Known before it is sent, so the customer's answer threads back by it.
                message.message_id = Some(message_id(config, &ticket.queue, *article));
            }
            d.article(*article, Sender::Agent, *channel, true, &message);
            d.event(EventKind::SendAnswer {
                article: *article,
                to: message.to.clone(),
                faq: *faq,
            });
            match next_state {
                Some(name) if *name != d.ticket.state => {
                    let to = state(config, name)?;
                    if to.state_type.is_pending() {
                        return Err(Error::Invalid(format!(
                            "set the pending state {name:?} with its time, not with a reply"
                        )));
                    }
                    d.change_state(to)?;
                }
                Some(_) => {}
                None => d.open_if_new()?,
            }
        }
        Op::FollowUp {
            article,
            message,
            channel,
            unknown_sender,
        } => {
            match ctx.actor {
                Actor::Customer(_) if !customer_owns(ctx, ticket) => {
                    return Err(Error::NotFound(format!("ticket {}", ticket.number)));
                }
                Actor::Agent(_) => {
                    agent_only(ctx, ticket, Permission::Rw, "record customer messages")?
                }
                _ => {}
            }
            match follow_up_action(config, ticket) {
                FollowUpAction::Append | FollowUpAction::Reopen => {
                    d.article(*article, Sender::Customer, *channel, true, message);
                    d.event(EventKind::FollowUp {
                        article: *article,
                        channel: *channel,
                        unknown_sender: *unknown_sender,
                    });
                    // A customer's word ends waiting and reopens closed tickets; new stays new.
                    if ticket.state_type != StateType::New {
                        let open = state(config, &config.rules.open_state)?;
                        if ticket.state != open.name {
                            d.set_state(open);
                        }
                    }
                }
                FollowUpAction::Reject => {
                    d.article(*article, Sender::Customer, *channel, true, message);
                    d.event(EventKind::FollowUpRejected { article: *article });
                }
                FollowUpAction::NewTicket => {
                    return Err(Error::Invalid(format!(
                        "ticket {} is closed and its queue opens a new ticket for follow-ups",
                        ticket.number
                    )));
                }
            }
        }
        Op::AutoReply {
            article, message, ..
        } => {
            system_only(ctx, "send auto-responses")?;
            d.article(*article, Sender::System, Channel::Email, true, message);
            d.event(EventKind::SendAutoReply {
                article: *article,
                to: message.to.clone(),
            });
        }
        Op::Bounce {
            article,
            message,
            recipient,
        } => {
            system_only(ctx, "record bounces")?;
            d.article(*article, Sender::System, Channel::Email, false, message);
            d.event(EventKind::Bounce {
                article: *article,
                recipient: recipient.clone(),
            });
        }
        Op::Watch | Op::Unwatch => {
            agent_only(ctx, ticket, Permission::Ro, "watch tickets")?;
            let login = ctx
                .actor
                .agent_login()
                .ok_or_else(|| Error::Invalid("only agents watch tickets".into()))?
                .to_string();
            if matches!(op, Op::Watch) {
                if d.ticket.watchers.insert(login.clone()) {
                    d.event(EventKind::Subscribe { agent: login });
                }
            } else if d.ticket.watchers.remove(&login) {
                d.event(EventKind::Unsubscribe { agent: login });
            }
        }
        Op::Archive { archived } => {
            agent_only(ctx, ticket, Permission::Rw, "archive tickets")?;
            holder_only(ctx, ticket)?;
            if ticket.archived != *archived {
                d.ticket.archived = *archived;
                d.event(EventKind::ArchiveFlagUpdate {
                    archived: *archived,
                });
            }
        }
    }
    let quotas = match op {
        Op::AutoReply {
            quota: Some(quota), ..
        } => vec![quota.clone()],
        _ => Vec::new(),
    };
    Ok(Change {
        quotas,
        writes: vec![d.finish()],
    })
}

/// A customer's follow-up to a closed ticket whose queue opens new tickets: a new ticket in
/// the same queue, linked to the old one (both record the link).
pub fn follow_up_new_ticket(
    ctx: Ctx<'_>,
    old: &Ticket,
    message: &Message,
    channel: Channel,
    fresh: &Fresh,
) -> Result<Change> {
    if let Actor::Customer(_) = ctx.actor
        && !customer_owns(ctx, old)
    {
        return Err(Error::NotFound(format!("ticket {}", old.number)));
    }
    let input = NewTicket {
        customer: old.customer.clone(),
        customer_company: old.customer_company.clone(),
        priority: Some(old.priority),
        ..NewTicket::new(&old.queue, &old.title, channel, message.clone())
    };
    let system = Ctx {
        actor: &Actor::System,
        ..ctx
    };
    let mut change = create(system, &input, fresh)?;
    link_writes(ctx, &mut change, old, LinkKind::Normal)?;
    Ok(change)
}

/// Adds a link from the single new ticket in `change` to `other` (and back).
fn link_writes(ctx: Ctx<'_>, change: &mut Change, other: &Ticket, kind: LinkKind) -> Result<()> {
    let new = change
        .writes
        .first_mut()
        .ok_or_else(|| Error::Invalid("nothing to link".into()))?;
    let mut other_draft = Draft::of(ctx, other);
    other_draft.link(&new.ticket, kind.reverse());
    let link = Link {
        ticket: other.id,
        number: other.number.clone(),
        kind,
    };
    new.ticket.links.insert(link);
    new.events.push(Event {
        seq: 0,
        ticket: new.ticket.id,
        number: new.ticket.number.clone(),
        at: ctx.now,
        actor: ctx.actor.clone(),
        visible_in: new.ticket.queue.clone(),
        kind: EventKind::TicketLinkAdd {
            other: other.number.clone(),
            kind,
        },
    });
    change.writes.push(other_draft.finish());
    Ok(())
}

/// Merges `source` into `target`: the source takes the merged state, records where it went,
/// and follow-ups to it go to the target from now on.
pub fn merge(ctx: Ctx<'_>, source: &Ticket, target: &Ticket) -> Result<Change> {
    agent_only(ctx, source, Permission::Rw, "merge tickets")?;
    agent_only(ctx, target, Permission::Rw, "merge tickets")?;
    holder_only(ctx, source)?;
    if source.id == target.id {
        return Err(Error::Invalid(
            "a ticket cannot be merged into itself".into(),
        ));
    }
    for t in [source, target] {
        if t.state_type == StateType::Merged || t.merged_into.is_some() {
            return Err(Error::Invalid(format!(
                "ticket {} is already merged",
                t.number
            )));
        }
    }
    let merged = state(ctx.config, &ctx.config.rules.merged_state)?;
    let kind = EventKind::Merged {
        from: source.number.clone(),
        into: target.number.clone(),
    };
    let mut s = Draft::of(ctx, source);
    s.set_state(merged);
    s.ticket.merged_into = Some(target.id);
    s.event(kind.clone());
    s.link(target, LinkKind::Normal);
    let mut t = Draft::of(ctx, target);
    t.event(kind);
    t.link(source, LinkKind::Normal);
    Ok(Change {
        quotas: Vec::new(),
        writes: vec![s.finish(), t.finish()],
    })
}

/// Splits `article` off `source` into a new ticket in `queue` (child of the source), so its
/// matter can proceed in parallel.
pub fn split(
    ctx: Ctx<'_>,
    source: &Ticket,
    article: &Article,
    queue: &str,
    title: Option<&str>,
    fresh: &Fresh,
) -> Result<Change> {
    agent_only(ctx, source, Permission::Rw, "split tickets")?;
    require(ctx, queue, Permission::Create, "create tickets")?;
    if article.ticket != source.id {
        return Err(Error::NotFound(format!(
            "article {} in ticket {}",
            article.id, source.number
        )));
    }
    let input = NewTicket {
        title: title.unwrap_or(&source.title).to_string(),
        queue: queue.to_string(),
        state: None,
        priority: Some(source.priority),
        customer: source.customer.clone(),
        customer_company: source.customer_company.clone(),
        owner: None,
        sender: article.sender,
        channel: article.channel,
        message: Message {
            from: article.from.clone(),
            to: article.to.clone(),
            cc: article.cc.clone(),
            subject: article.subject.clone(),
            body: article.body.clone(),
            body_html: article.body_html.clone(),
            // The original keeps its Message-ID; threading follows the original.
            message_id: None,
            in_reply_to: article.message_id.clone(),
            references: article.references.clone(),
            attachments: Vec::new(),
        },
    };
    let mut change = create(ctx, &input, fresh)?;
    if let Some(write) = change.writes.first_mut()
        && let Some(copy) = write.articles.first_mut()
    {
        // The bytes are stored already: the copy only references them.
        copy.attachments = article.attachments.clone();
        copy.visible_to_customer = article.visible_to_customer;
    }
    link_writes(ctx, &mut change, source, LinkKind::Parent)?;
    Ok(change)
}

/// Links two tickets (both record it).
pub fn link(ctx: Ctx<'_>, a: &Ticket, b: &Ticket, kind: LinkKind) -> Result<Change> {
    agent_only(ctx, a, Permission::Rw, "link tickets")?;
    agent_only(ctx, b, Permission::Ro, "link tickets")?;
    if a.id == b.id {
        return Err(Error::Invalid("a ticket cannot be linked to itself".into()));
    }
    let mut da = Draft::of(ctx, a);
    da.link(b, kind);
    let mut db = Draft::of(ctx, b);
    db.link(a, kind.reverse());
    Ok(Change {
        quotas: Vec::new(),
        writes: vec![da.finish(), db.finish()],
    })
}

/// Maintenance that never fails: [`tick`], and where that fails, each due time that fails on
/// its own is set aside (out of the due index, with a `SetAside` event saying why) and the
/// rest is done in the same change. One broken ticket thus blocks neither its own other due
/// times nor any other ticket.
pub fn maintain(ctx: Ctx<'_>, ticket: &Ticket) -> Change {
    let error = match tick(ctx, ticket) {
        Ok(change) => return change,
        Err(error) => error,
    };
    let due: Vec<DueKind> = DueKind::ALL
        .into_iter()
        .filter(|k| ticket.due(*k).is_some_and(|at| at <= ctx.now))
        .collect();
    let mut failing = Vec::new();
    for kind in &due {
        let mut alone = ticket.clone();
        alone
            .set_aside
            .extend(DueKind::ALL.into_iter().filter(|k| k != kind));
        if let Err(e) = tick(ctx, &alone) {
            failing.push((*kind, e));
        }
    }
    // Failing only together: set every due time aside.
    if failing.is_empty() {
        failing = due.iter().map(|k| (*k, error.clone())).collect();
    }
    let mut d = Draft::of(ctx, ticket);
    for (kind, error) in &failing {
        d.ticket.set_aside.insert(*kind);
        d.event(EventKind::SetAside {
            due: *kind,
            reason: error.to_string(),
        });
    }
    let aside = Change {
        quotas: Vec::new(),
        writes: vec![d.finish()],
    };
    let rest = aside.writes.first().and_then(|w| tick(ctx, &w.ticket).ok());
    match rest {
        Some(rest) => aside.then(rest),
        None => aside,
    }
}

/// Maintenance for one ticket at `ctx.now` (the actor is the system): releases an expired lock
/// of a new or open ticket, sends the pending reminder once (reopening if configured),
/// auto-closes due pending tickets, emits due escalation warnings and breaches. A ticket with
/// nothing due yields a change without events.
pub fn tick(ctx: Ctx<'_>, ticket: &Ticket) -> Result<Change> {
    let config = ctx.config;
    let now = ctx.now;
    let mut d = Draft::of(ctx, ticket);
    if ticket.due(DueKind::LockExpiry).is_some_and(|t| t <= now) {
        d.unlock();
    }
    if ticket.due(DueKind::Pending).is_some_and(|t| t <= now) {
        match ticket.state_type {
            StateType::PendingReminder => {
                d.ticket.reminded = true;
                d.event(EventKind::Reminder {
                    owner: ticket.owner.clone(),
                });
                if config.rules.reminder_reopens {
                    let open = state(config, &config.rules.open_state)?;
                    d.set_state(open);
                }
            }
            StateType::PendingAutoCloseSuccessful | StateType::PendingAutoCloseUnsuccessful => {
                let closed = if ticket.state_type == StateType::PendingAutoCloseSuccessful {
                    StateType::ClosedSuccessful
                } else {
                    StateType::ClosedUnsuccessful
                };
                let to = config.state_of_type(closed).ok_or_else(|| {
                    Error::Invalid(format!("no state of type {closed} to auto-close into"))
                })?;
                d.set_state(to);
            }
            _ => {}
        }
    }
    if ticket.due(DueKind::Escalation).is_some_and(|t| t <= now) {
        for (deadline, due, breach) in d.ticket.escalation.take_due(now) {
            d.event(if breach {
                EventKind::Escalation { deadline, due }
            } else {
                EventKind::EscalationWarning { deadline, due }
            });
        }
    }
    Ok(Change {
        quotas: Vec::new(),
        writes: vec![d.finish()],
    })
}
