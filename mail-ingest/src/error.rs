//! What can go wrong with mail.

/// Why a message could not be taken in or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The message is larger than `[mail] max_message_size`.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The configured limit.
        limit: u64,
    },
    /// The bytes are not a mail message.
    #[error("not a mail message: {0}")]
    Unparsable(String),
    /// The engine refused or failed (permissions, rules, storage).
    #[error(transparent)]
    Desk(#[from] ticketcore::Error),
    /// A configured filter has an invalid regular expression.
    #[error("filter {filter:?}: {message}")]
    Filter {
        /// The filter's name.
        filter: String,
        /// What is wrong.
        message: String,
    },
    /// A mail could not be handed to the outbound transport.
    #[error("sending mail: {0}")]
    Transport(String),
    /// Reading or writing a mailbox failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl MailError {
    /// Whether trying again later may succeed (storage busy or down, transport unreachable):
    /// what an MTA calls a temporary failure (exit status 75).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            MailError::Desk(
                ticketcore::Error::Store(
                    ticketcore::StoreError::Backend(_) | ticketcore::StoreError::Conflict(_),
                ) | ticketcore::Error::Contention(_),
            ) | MailError::Transport(_)
                | MailError::Io(_)
        )
    }
}
