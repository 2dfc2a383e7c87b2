//! The event log: every committed change appends events. The same records are the ticket
//! history (OTRS history types), the outbox for notifications and mail, and the stream that
//! bots and other processes follow with `events_since(cursor)`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::article::{ArticleId, Channel};
use crate::escalation::DeadlineKind;
use crate::number::TicketNumber;
use crate::state::StateType;
use crate::ticket::{LinkKind, Priority, TicketId};

/// Who did something. Written as "system", "agent:LOGIN" or "customer:LOGIN".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Actor {
    /// The engine itself (maintenance, mail ingest).
    System,
    /// An agent by login.
    Agent(String),
    /// A customer user by login (or address when unknown).
    Customer(String),
}

impl Actor {
    /// An agent.
    pub fn agent(login: impl Into<String>) -> Actor {
        Actor::Agent(login.into())
    }

    /// A customer.
    pub fn customer(login: impl Into<String>) -> Actor {
        Actor::Customer(login.into())
    }

    /// The agent login, if an agent.
    pub fn agent_login(&self) -> Option<&str> {
        match self {
            Actor::Agent(login) => Some(login),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::Agent(login) => write!(f, "agent:{login}"),
            Actor::Customer(login) => write!(f, "customer:{login}"),
        }
    }
}

impl FromStr for Actor {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            _ if s == "system" => Ok(Actor::System),
            Some(("agent", login)) if !login.is_empty() => Ok(Actor::Agent(login.into())),
            Some(("customer", login)) if !login.is_empty() => Ok(Actor::Customer(login.into())),
            _ => Err(crate::Error::Invalid(format!(
                "actor {s:?} is not \"system\", \"agent:LOGIN\" or \"customer:LOGIN\""
            ))),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What happened, named by the OTRS history type (the `type` field in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum EventKind {
    /// A ticket was created.
    NewTicket {
        /// Queue.
        queue: String,
        /// State.
        state: String,
        /// Priority.
        priority: Priority,
        /// Customer.
        customer: Option<String>,
    },
    /// The customer's first message arrived by email.
    EmailCustomer {
        /// The article.
        article: ArticleId,
    },
    /// An agent recorded a phone call from the customer.
    PhoneCallCustomer {
        /// The article.
        article: ArticleId,
    },
    /// The customer wrote through the web (or chat).
    WebRequestCustomer {
        /// The article.
        article: ArticleId,
    },
    /// The customer followed up on an existing ticket.
    FollowUp {
        /// The article.
        article: ArticleId,
        /// How it arrived.
        channel: Channel,
        /// The sender is neither the ticket's customer nor anyone who wrote on it before.
        unknown_sender: bool,
    },
    /// A follow-up arrived for a closed ticket whose queue rejects them.
    FollowUpRejected {
        /// The article recording the rejected message.
        article: ArticleId,
    },
    /// A note was added.
    AddNote {
        /// The article.
        article: ArticleId,
        /// Agents to notify.
        notify: Vec<String>,
        /// Whether the customer can see it.
        visible_to_customer: bool,
    },
    /// An agent answered the customer; the outbox entry for the mail.
    SendAnswer {
        /// The article.
        article: ArticleId,
        /// Recipients.
        to: String,
        /// The FAQ entry the answer sent, by number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        faq: Option<u64>,
    },
    /// An auto-response was sent.
    SendAutoReply {
        /// The article.
        article: ArticleId,
        /// Recipients.
        to: String,
    },
    /// A mail from this ticket bounced (a delivery-status report arrived).
    Bounce {
        /// The article recording the report.
        article: ArticleId,
        /// The recipient that failed.
        recipient: String,
    },
    /// Moved between queues.
    Move {
        /// Old queue.
        from: String,
        /// New queue.
        to: String,
    },
    /// Locked by an agent.
    Lock {
        /// Holder.
        by: String,
        /// Expiry.
        #[serde(default, with = "crate::stamp::option")]
        until: Option<DateTime<Utc>>,
    },
    /// Unlocked.
    Unlock {
        /// The previous holder.
        by: String,
    },
    /// State changed.
    StateUpdate {
        /// Old state.
        from: String,
        /// New state.
        to: String,
        /// New state type.
        state_type: StateType,
    },
    /// Pending time set.
    SetPendingTime {
        /// The new pending time.
        #[serde(default, with = "crate::stamp::option")]
        until: Option<DateTime<Utc>>,
    },
    /// Priority changed.
    PriorityUpdate {
        /// Old priority.
        from: Priority,
        /// New priority.
        to: Priority,
    },
    /// Owner changed.
    OwnerUpdate {
        /// Old owner.
        from: Option<String>,
        /// New owner.
        to: Option<String>,
    },
    /// Responsible agent changed.
    ResponsibleUpdate {
        /// Old responsible.
        from: Option<String>,
        /// New responsible.
        to: Option<String>,
    },
    /// Title changed.
    TitleUpdate {
        /// Old title.
        from: String,
        /// New title.
        to: String,
    },
    /// Customer changed.
    CustomerUpdate {
        /// Old customer.
        from: Option<String>,
        /// New customer.
        to: Option<String>,
    },
    /// Merged: recorded on both the merged and the surviving ticket.
    Merged {
        /// The ticket that was merged away.
        from: TicketNumber,
        /// The surviving ticket.
        into: TicketNumber,
    },
    /// Linked to another ticket.
    TicketLinkAdd {
        /// The other ticket.
        other: TicketNumber,
        /// What the other ticket is to this one.
        kind: LinkKind,
    },
    /// An agent started watching.
    Subscribe {
        /// The watcher.
        agent: String,
    },
    /// An agent stopped watching.
    Unsubscribe {
        /// The former watcher.
        agent: String,
    },
    /// Archive flag changed.
    ArchiveFlagUpdate {
        /// New value.
        archived: bool,
    },
    /// A pending reminder time was reached: remind the owner.
    Reminder {
        /// The owner to remind.
        owner: Option<String>,
    },
    /// A deadline reached its warning point.
    EscalationWarning {
        /// Which deadline.
        deadline: DeadlineKind,
        /// When it escalates.
        #[serde(with = "crate::stamp")]
        due: DateTime<Utc>,
    },
    /// A deadline passed: the ticket escalated.
    Escalation {
        /// Which deadline.
        deadline: DeadlineKind,
        /// When it was due.
        #[serde(with = "crate::stamp")]
        due: DateTime<Utc>,
    },
    /// Agents are told of the event before this one (OTRS's SendAgentNotification): the
    /// outbox mails them, a web desk lists it. Appended by the rules to the change that made
    /// the event, so each agent hears of each event once.
    Notify {
        /// Why they are told.
        reason: crate::notify::Reason,
        /// The agents (never the one who acted, never one who may not read the ticket).
        agents: Vec<String>,
        /// The article the event brought (a note's or a follow-up's text for the mail).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        article: Option<crate::article::ArticleId>,
    },
    /// Maintenance could not process a due time of the ticket and set it aside until the
    /// ticket next changes.
    SetAside {
        /// Which due time.
        due: crate::ticket::DueKind,
        /// Why it could not be processed.
        reason: String,
    },
}

impl EventKind {
    /// Whether a customer may see it in their ticket's history and live view: what was said
    /// with them and what happened to their request, never internal notes or who works on it.
    pub fn customer_visible(&self) -> bool {
        match self {
            EventKind::AddNote {
                visible_to_customer,
                ..
            } => *visible_to_customer,
            EventKind::NewTicket { .. }
            | EventKind::EmailCustomer { .. }
            | EventKind::PhoneCallCustomer { .. }
            | EventKind::WebRequestCustomer { .. }
            | EventKind::FollowUp { .. }
            | EventKind::FollowUpRejected { .. }
            | EventKind::SendAnswer { .. }
            | EventKind::SendAutoReply { .. }
            | EventKind::StateUpdate { .. }
            | EventKind::Merged { .. } => true,
            _ => false,
        }
    }

    /// The OTRS history type name, e.g. "NewTicket".
    pub fn history_type(&self) -> &'static str {
        match self {
            EventKind::NewTicket { .. } => "NewTicket",
            EventKind::EmailCustomer { .. } => "EmailCustomer",
            EventKind::PhoneCallCustomer { .. } => "PhoneCallCustomer",
            EventKind::WebRequestCustomer { .. } => "WebRequestCustomer",
            EventKind::FollowUp { .. } => "FollowUp",
            EventKind::FollowUpRejected { .. } => "FollowUpRejected",
            EventKind::AddNote { .. } => "AddNote",
            EventKind::SendAnswer { .. } => "SendAnswer",
            EventKind::SendAutoReply { .. } => "SendAutoReply",
            EventKind::Bounce { .. } => "Bounce",
            EventKind::Move { .. } => "Move",
            EventKind::Lock { .. } => "Lock",
            EventKind::Unlock { .. } => "Unlock",
            EventKind::StateUpdate { .. } => "StateUpdate",
            EventKind::SetPendingTime { .. } => "SetPendingTime",
            EventKind::PriorityUpdate { .. } => "PriorityUpdate",
            EventKind::OwnerUpdate { .. } => "OwnerUpdate",
            EventKind::ResponsibleUpdate { .. } => "ResponsibleUpdate",
            EventKind::TitleUpdate { .. } => "TitleUpdate",
            EventKind::CustomerUpdate { .. } => "CustomerUpdate",
            EventKind::Merged { .. } => "Merged",
            EventKind::TicketLinkAdd { .. } => "TicketLinkAdd",
            EventKind::Subscribe { .. } => "Subscribe",
            EventKind::Unsubscribe { .. } => "Unsubscribe",
            EventKind::ArchiveFlagUpdate { .. } => "ArchiveFlagUpdate",
            EventKind::Reminder { .. } => "Reminder",
            EventKind::EscalationWarning { .. } => "EscalationWarning",
            EventKind::Escalation { .. } => "Escalation",
            EventKind::SetAside { .. } => "SetAside",
            EventKind::Notify { .. } => "SendAgentNotification",
        }
    }

    /// Every history type, as [`history_type`](EventKind::history_type) names them.
    pub const HISTORY_TYPES: [&'static str; 30] = [
        "NewTicket",
        "EmailCustomer",
        "PhoneCallCustomer",
        "WebRequestCustomer",
        "FollowUp",
        "FollowUpRejected",
        "AddNote",
        "SendAnswer",
        "SendAutoReply",
        "Bounce",
        "Move",
        "Lock",
        "Unlock",
        "StateUpdate",
        "SetPendingTime",
        "PriorityUpdate",
        "OwnerUpdate",
        "ResponsibleUpdate",
        "TitleUpdate",
        "CustomerUpdate",
        "Merged",
        "TicketLinkAdd",
        "Subscribe",
        "Unsubscribe",
        "ArchiveFlagUpdate",
        "Reminder",
        "EscalationWarning",
        "Escalation",
        "SetAside",
        "SendAgentNotification",
    ];
}

/// One entry of the event log and of its ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Global, gap-free, monotonic sequence number, assigned by the store on commit
    /// (0 before that).
    pub seq: u64,
    /// The ticket.
    pub ticket: TicketId,
    /// Its number.
    pub number: TicketNumber,
    /// When.
    #[serde(with = "crate::stamp")]
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// The ticket's queue right after the event, whose readers may see the event: an agent
    /// who handed a ticket into a transfer queue sees what happened before, not after. Empty
    /// in events written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub visible_in: String,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// History entries are events: one record, two uses.
pub type HistoryEntry = Event;
