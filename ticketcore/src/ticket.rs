//! The ticket: one customer request with an immutable number, living in a queue.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::escalation::Escalation;
use crate::number::TicketNumber;
use crate::state::StateType;

/// A ticket's identity (UUID v7: time-ordered, so index inserts stay local).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub Uuid);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Urgency from 1 (very low) to 5 (very high); 3 is normal, as in OTRS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    /// The lowest priority.
    pub const LOWEST: Priority = Priority(1);
    /// The default priority of new tickets.
    pub const NORMAL: Priority = Priority(3);
    /// The highest priority.
    pub const HIGHEST: Priority = Priority(5);

    /// A priority from 1..=5.
    pub fn new(value: u8) -> Result<Priority, crate::Error> {
        if (1..=5).contains(&value) {
            Ok(Priority(value))
        } else {
            Err(crate::Error::Invalid(format!(
                "priority must be 1..5, got {value}"
            )))
        }
    }

    /// The numeric value, 1..=5.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

impl TryFrom<u8> for Priority {
    type Error = crate::Error;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Priority::new(value)
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

/// Whether an agent has claimed a ticket to work on it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "lock", rename_all = "snake_case")]
pub enum Lock {
    /// Anyone with permission may work on it.
    #[default]
    Unlocked,
    /// Only `by` may answer or change it until it is released or expires.
    Locked {
        /// The holding agent's login.
        by: String,
        /// When the lock was taken.
        #[serde(with = "crate::stamp")]
        since: DateTime<Utc>,
        /// When it expires (the queue's unlock timeout), if ever.
        #[serde(default, with = "crate::stamp::option")]
        until: Option<DateTime<Utc>>,
    },
}

impl Lock {
    /// The holder's login, if locked.
    pub fn holder(&self) -> Option<&str> {
        match self {
            Lock::Unlocked => None,
            Lock::Locked { by, .. } => Some(by),
        }
    }
}

/// How two tickets relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Related tickets.
    Normal,
    /// This ticket is the parent (e.g. it was split into the other).
    Parent,
    /// This ticket is the child (e.g. split off the other).
    Child,
}

impl LinkKind {
    /// The same link seen from the other ticket.
    pub fn reverse(self) -> LinkKind {
        match self {
            LinkKind::Normal => LinkKind::Normal,
            LinkKind::Parent => LinkKind::Child,
            LinkKind::Child => LinkKind::Parent,
        }
    }
}

/// A link from this ticket to another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    /// The other ticket.
    pub ticket: TicketId,
    /// Its number, so a view need not load it.
    pub number: TicketNumber,
    /// What the other ticket is to this one.
    pub kind: LinkKind,
}

/// A ticket as stored. Changed only by the pure rules; `version` increases with every commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Identity.
    pub id: TicketId,
    /// Immutable number.
    pub number: TicketNumber,
    /// Title (the first mail's subject).
    pub title: String,
    /// Queue name ("Parent::Child").
    pub queue: String,
    /// State name.
    pub state: String,
    /// The state's type, denormalised so stores can index it.
    pub state_type: StateType,
    /// Priority 1..=5.
    pub priority: Priority,
    /// Lock.
    pub lock: Lock,
    /// Owner (agent login).
    pub owner: Option<String>,
    /// Responsible agent (login).
    pub responsible: Option<String>,
    /// Customer user login (or address when the sender is unknown).
    pub customer: Option<String>,
    /// The customer's company, for company-wide customer visibility.
    pub customer_company: Option<String>,
    /// When a pending state becomes due.
    #[serde(default, with = "crate::stamp::option")]
    pub pending_until: Option<DateTime<Utc>>,
    /// The pending reminder for `pending_until` has been sent.
    #[serde(default)]
    pub reminded: bool,
    /// Escalation deadlines.
    pub escalation: Escalation,
    /// Archived tickets drop out of default views.
    pub archived: bool,
    /// Set when merged: follow-ups go to this ticket.
    pub merged_into: Option<TicketId>,
    /// Links to other tickets.
    pub links: BTreeSet<Link>,
    /// Agents watching (subscribed to) this ticket.
    pub watchers: BTreeSet<String>,
    /// Due times maintenance could not process (a rule failed, say after a state was removed
    /// from the configuration): out of the due index, so they block nothing, until the next
    /// change of the ticket puts them back.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub set_aside: BTreeSet<DueKind>,
    /// Creation time.
    #[serde(with = "crate::stamp")]
    pub created: DateTime<Utc>,
    /// Last change time.
    #[serde(with = "crate::stamp")]
    pub changed: DateTime<Utc>,
    /// Compare-and-swap version: 1 after creation, +1 per commit.
    pub version: u64,
}

/// The kinds of due time a ticket can have; each is indexed by every store so `tick` only
/// touches what is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    /// A lock's expiry (only for new and open tickets).
    LockExpiry,
    /// A pending state's time (reminder not yet sent, or auto-close).
    Pending,
    /// The next escalation warning or breach.
    Escalation,
}

impl DueKind {
    /// Every kind.
    pub const ALL: [DueKind; 3] = [DueKind::LockExpiry, DueKind::Pending, DueKind::Escalation];
}

impl Ticket {
    /// When `tick` has work on this ticket of `kind`. A pure function of the ticket: stores
    /// index its value on every write.
    pub fn due(&self, kind: DueKind) -> Option<DateTime<Utc>> {
        if self.set_aside.contains(&kind) {
            return None;
        }
        match kind {
            DueKind::LockExpiry => match &self.lock {
                Lock::Locked { until, .. } if self.state_type.is_active() => *until,
                _ => None,
            },
            DueKind::Pending => match self.state_type {
                StateType::PendingReminder if !self.reminded => self.pending_until,
                StateType::PendingAutoCloseSuccessful | StateType::PendingAutoCloseUnsuccessful => {
                    self.pending_until
                }
                _ => None,
            },
            DueKind::Escalation => self.escalation.next_event(),
        }
    }
}
