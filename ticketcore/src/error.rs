//! The engine's error: what a caller did that the rules refuse, or what failed underneath.

use crate::config::ConfigError;
use crate::number::{NumberError, TicketNumber};
use crate::store::StoreError;

/// Everything the Desk and the rules can refuse or fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The actor lacks the permission.
    #[error("permission denied: {actor} may not {action} in queue {queue:?}")]
    Denied {
        /// Who tried.
        actor: String,
        /// What they tried.
        action: String,
        /// Where.
        queue: String,
    },
    /// The actor lacks the permission in an FAQ category.
    #[error("permission denied: {actor} may not {action} in FAQ category {category:?}")]
    FaqDenied {
        /// Who tried.
        actor: String,
        /// What they tried.
        action: String,
        /// Where.
        category: String,
    },
    /// Someone else holds the ticket's lock.
    #[error("ticket {number} is locked by {by}")]
    Locked {
        /// The ticket.
        number: TicketNumber,
        /// The lock holder.
        by: String,
    },
    /// The state change is not allowed by the configured transitions.
    #[error("ticket {number} cannot change from state {from:?} to {to:?}")]
    Transition {
        /// The ticket.
        number: TicketNumber,
        /// Current state.
        from: String,
        /// Wanted state.
        to: String,
    },
    /// Something named does not exist (or the actor may not know it does).
    #[error("not found: {0}")]
    NotFound(String),
    /// Input that makes no sense: unknown state, missing pending time, bad priority, ...
    #[error("{0}")]
    Invalid(String),
    /// A malformed ticket number.
    #[error(transparent)]
    Number(#[from] NumberError),
    /// A configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No configuration has been stored yet.
    #[error("the desk has no configuration yet; load one first")]
    NotConfigured,
    /// Too many concurrent writers kept invalidating this operation.
    #[error("gave up after {0} attempts: the ticket kept changing underneath")]
    Contention(usize),
    /// A sign-in failed: the login is unknown or the password wrong (deliberately one error).
    #[error("sign-in failed: unknown login or wrong password")]
    SignIn,
    /// Too many failed sign-ins for this login: attempts are refused for a while.
    #[error("too many failed sign-ins; try again after {until}")]
    SignInRefused {
        /// When attempts are taken again.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The actor may not act at all: its account is disabled or removed, or the token it
    /// presented is unknown, expired or revoked.
    #[error("not authorised: {0}")]
    Unauthorized(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
