//! Who should hear of an event: the agents a notifier (mail, chat bot, web push) sends it to.
//! A pure function of configuration, agents' preferences, ticket and event. The rules append
//! its answer to the change that made the event (a `Notify` event), so each agent is told of
//! each event exactly once however many processes work the desk, and every follower of the
//! log (the outbox mailing it, a web desk listing it) sees the same notification.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::acl::{Permission, may};
use crate::config::Config;
use crate::event::{Actor, Event, EventKind};
use crate::ticket::Ticket;

/// Why an agent is told: the kinds of notification an agent can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A new ticket in one of the agent's queues.
    NewTicket,
    /// A customer wrote on a ticket the agent owns, has locked, or in one of its queues.
    FollowUp,
    /// A note names the agent.
    Note,
    /// A ticket was moved into one of the agent's queues.
    Move,
    /// The agent's lock ran out and was released.
    LockTimeout,
    /// A deadline of the agent's ticket (or, unowned, of its queue) is near.
    EscalationWarning,
    /// A deadline passed.
    Escalation,
    /// A pending reminder time was reached.
    Reminder,
    /// Anything else on a ticket the agent watches.
    Watched,
}

impl Reason {
    /// Every reason, for configuration defaults and checks.
    pub const ALL: [Reason; 9] = [
        Reason::NewTicket,
        Reason::FollowUp,
        Reason::Note,
        Reason::Move,
        Reason::LockTimeout,
        Reason::EscalationWarning,
        Reason::Escalation,
        Reason::Reminder,
        Reason::Watched,
    ];

    /// The name used in configuration and templates (`new_ticket`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Reason::NewTicket => "new_ticket",
            Reason::FollowUp => "follow_up",
            Reason::Note => "note",
            Reason::Move => "move",
            Reason::LockTimeout => "lock_timeout",
            Reason::EscalationWarning => "escalation_warning",
            Reason::Escalation => "escalation",
            Reason::Reminder => "reminder",
            Reason::Watched => "watched",
        }
    }

    /// Why `event` would tell anyone anything.
    pub fn of(event: &Event) -> Reason {
        match &event.kind {
            EventKind::NewTicket { .. } => Reason::NewTicket,
            EventKind::FollowUp { .. } | EventKind::FollowUpRejected { .. } => Reason::FollowUp,
            EventKind::AddNote { .. } => Reason::Note,
            EventKind::Move { .. } => Reason::Move,
            EventKind::Unlock { .. } if event.actor == Actor::System => Reason::LockTimeout,
            EventKind::EscalationWarning { .. } => Reason::EscalationWarning,
            EventKind::Escalation { .. } => Reason::Escalation,
            EventKind::Reminder { .. } => Reason::Reminder,
            _ => Reason::Watched,
        }
    }
}

/// What an agent wants to be told of (`[agents.notifications]`); everything when absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Only these kinds (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<BTreeSet<Reason>>,
    /// "My queues": new tickets, moves and follow-ups to a queue's readers reach the agent
    /// only from these (all the agent may read when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<BTreeSet<String>>,
}

impl Preferences {
    /// Whether nothing is chosen (what a default agent has).
    pub fn is_empty(&self) -> bool {
        self.kinds.is_none() && self.queues.is_none()
    }
}

/// The agents to tell of `event` on `ticket` (as it is after the event), and why: the
/// [`recipients`], minus those whose preferences decline the kind, and minus those for whom the
/// ticket's queue is not among their "my queues" where the rule goes to a queue's readers.
pub fn notifications(config: &Config, ticket: &Ticket, event: &Event) -> (Reason, Vec<String>) {
    let reason = Reason::of(event);
    let personal = personal(ticket, event);
    let agents = recipients(config, ticket, event)
        .into_iter()
        .filter(|login| {
            let Some(agent) = config.agent(login) else {
                return false;
            };
            let prefs = &agent.notifications;
            let wanted = prefs.kinds.as_ref().is_none_or(|k| k.contains(&reason));
            let mine = personal.contains(login)
                || prefs
                    .queues
                    .as_ref()
                    .is_none_or(|q| q.contains(&ticket.queue));
            wanted && mine
        })
        .collect();
    (reason, agents)
}

/// Who is told of `event` for who they are on the ticket rather than for the queue they read:
/// owner, responsible, lock holder, watchers, and the agents a note names or a lock was taken
/// from. "My queues" narrows only the rest.
fn personal(ticket: &Ticket, event: &Event) -> BTreeSet<String> {
    let mut them: BTreeSet<String> = ticket
        .owner
        .iter()
        .chain(&ticket.responsible)
        .chain(&ticket.watchers)
        .cloned()
        .collect();
    them.extend(ticket.lock.holder().map(String::from));
    match &event.kind {
        EventKind::AddNote { notify, .. } => them.extend(notify.iter().cloned()),
        EventKind::Unlock { by } => {
            them.insert(by.clone());
        }
        _ => {}
    }
    them
}

/// The agents to notify of `event` on `ticket` (as it is after the event), without the agent
/// who caused it:
/// - new tickets, and moves, go to every valid agent who may read the (new) queue;
/// - customer follow-ups go to the owner of a locked ticket, else to the queue's readers;
/// - notes go to the agents named in them;
/// - a lock released by its timeout (maintenance) goes to its former holder;
/// - reminders and escalations go to owner and responsible, else to the queue's readers;
/// - watchers hear of everything.
pub fn recipients(config: &Config, ticket: &Ticket, event: &Event) -> BTreeSet<String> {
    // Only valid agents who may read the ticket's queue hear anything (`may` knows no invalid
    // agent); owners, holders, watchers and named agents included.
    let reads = |login: &str| may(config, &Actor::agent(login), &ticket.queue, Permission::Ro);
    let readers = || -> BTreeSet<String> {
        config
            .agents
            .iter()
            .filter(|a| a.valid && reads(&a.login))
            .map(|a| a.login.clone())
            .collect()
    };
    let owners = || -> BTreeSet<String> {
        ticket
            .owner
            .iter()
            .chain(&ticket.responsible)
            .filter(|l| reads(l))
            .cloned()
            .collect()
    };
    let mut to: BTreeSet<String> = match &event.kind {
        EventKind::NewTicket { .. } | EventKind::Move { .. } => readers(),
        EventKind::FollowUp { .. } | EventKind::FollowUpRejected { .. } => {
            match ticket.lock.holder().filter(|h| reads(h)) {
                Some(holder) => BTreeSet::from([holder.to_string()]),
                None => readers(),
            }
        }
        EventKind::AddNote { notify, .. } => notify.iter().filter(|l| reads(l)).cloned().collect(),
        EventKind::Unlock { by } if event.actor == Actor::System => {
            std::iter::once(by).filter(|l| reads(l)).cloned().collect()
        }
        EventKind::Reminder { .. }
        | EventKind::EscalationWarning { .. }
        | EventKind::Escalation { .. } => {
            let o = owners();
            if o.is_empty() { readers() } else { o }
        }
        _ => BTreeSet::new(),
    };
    to.extend(ticket.watchers.iter().filter(|l| reads(l)).cloned());
    if let Some(author) = event.actor.agent_login() {
        to.remove(author);
    }
    to
}
