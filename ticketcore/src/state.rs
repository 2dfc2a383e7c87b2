//! Ticket states: configurable names, each of a fixed state type the engine understands.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a state means to the engine. States are named freely; their type decides behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateType {
    /// Not yet handled.
    New,
    /// Being worked on.
    Open,
    /// Waiting; remind the owner at the pending time.
    PendingReminder,
    /// Waiting; close successfully at the pending time.
    PendingAutoCloseSuccessful,
    /// Waiting; close unsuccessfully at the pending time.
    PendingAutoCloseUnsuccessful,
    /// Done, solved.
    ClosedSuccessful,
    /// Done, not solved.
    ClosedUnsuccessful,
    /// Merged into another ticket.
    Merged,
    /// Removed (spam, mistakes).
    Removed,
}

impl StateType {
    /// Every state type.
    pub const ALL: [StateType; 9] = [
        StateType::New,
        StateType::Open,
        StateType::PendingReminder,
        StateType::PendingAutoCloseSuccessful,
        StateType::PendingAutoCloseUnsuccessful,
        StateType::ClosedSuccessful,
        StateType::ClosedUnsuccessful,
        StateType::Merged,
        StateType::Removed,
    ];

    /// Pending types need a pending time.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            StateType::PendingReminder
                | StateType::PendingAutoCloseSuccessful
                | StateType::PendingAutoCloseUnsuccessful
        )
    }

    /// Closed, merged and removed tickets are no longer worked on.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            StateType::ClosedSuccessful
                | StateType::ClosedUnsuccessful
                | StateType::Merged
                | StateType::Removed
        )
    }

    /// New and open: the states an agent actively works in.
    pub fn is_active(self) -> bool {
        matches!(self, StateType::New | StateType::Open)
    }

    /// The snake_case name used in configuration and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StateType::New => "new",
            StateType::Open => "open",
            StateType::PendingReminder => "pending_reminder",
            StateType::PendingAutoCloseSuccessful => "pending_auto_close_successful",
            StateType::PendingAutoCloseUnsuccessful => "pending_auto_close_unsuccessful",
            StateType::ClosedSuccessful => "closed_successful",
            StateType::ClosedUnsuccessful => "closed_unsuccessful",
            StateType::Merged => "merged",
            StateType::Removed => "removed",
        }
    }
}

impl fmt::Display for StateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StateType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StateType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "unknown state type {s:?} (known: {})",
                    StateType::ALL.map(StateType::as_str).join(", ")
                ))
            })
    }
}

/// A named state of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The name agents see, e.g. "closed successful".
    pub name: String,
    /// What it means.
    #[serde(rename = "type")]
    pub state_type: StateType,
}

/// The OTRS default states.
pub fn default_states() -> Vec<State> {
    [
        ("new", StateType::New),
        ("open", StateType::Open),
        ("pending reminder", StateType::PendingReminder),
        ("pending auto close+", StateType::PendingAutoCloseSuccessful),
        (
            "pending auto close-",
            StateType::PendingAutoCloseUnsuccessful,
        ),
        ("closed successful", StateType::ClosedSuccessful),
        ("closed unsuccessful", StateType::ClosedUnsuccessful),
        ("merged", StateType::Merged),
        ("removed", StateType::Removed),
    ]
    .into_iter()
    .map(|(name, state_type)| State {
        name: name.into(),
        state_type,
    })
    .collect()
}
