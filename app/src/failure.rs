//! Why a command failed, as one line for stderr and an exit status.

use ticketcore::{Error, StoreError};
use ticketcore_mail::MailError;

/// Refused by the rules (permission, lock, state) or failed.
pub const FAILED: u8 = 1;
/// The command line itself is wrong (bad argument, malformed ticket number or store URL).
pub const USAGE: u8 = 2;
/// `EX_DATAERR`: the input can never be taken in (an MTA returns the mail to its sender).
pub const DATA: u8 = 65;
/// `EX_TEMPFAIL`: trying again later may work (store busy or down).
pub const TEMPORARY: u8 = 75;

/// One line for stderr and an exit status.
#[derive(Debug)]
pub struct Failure {
    /// What failed, and what to do.
    pub message: String,
    /// The exit status.
    pub code: u8,
}

impl Failure {
    /// Refused or failed (status 1).
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: FAILED,
        }
    }

    /// A usage error (status 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: USAGE,
        }
    }
}

/// Collapses a multi-line message (configuration problems) into one line.
fn one_line(text: String) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// So a program of its own (`main() -> Result<(), Box<dyn Error>>`) can pass it on with `?`.
impl std::error::Error for Failure {}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::Number(e) => Failure::usage(e.to_string()),
            Error::NotConfigured => Failure::failed(
                "the desk has no configuration yet: load one with `ticketctl init --config desk.toml`",
            ),
            Error::Store(StoreError::Backend(message)) => Failure {
                message: format!("storage backend: {message}"),
                code: TEMPORARY,
            },
            e => Failure::failed(one_line(e.to_string())),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Error::Store(e).into()
    }
}

impl From<MailError> for Failure {
    fn from(e: MailError) -> Failure {
        match e {
            MailError::Desk(e) => e.into(),
            e => Failure {
                code: if e.is_temporary() { TEMPORARY } else { FAILED },
                message: one_line(e.to_string()),
            },
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::failed(e.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Failure {
        Failure::failed(format!("JSON: {e}"))
    }
}
