//! # ticketcore-mail
//!
//! Email for a ticketcore desk: what OTRS calls the PostMaster, as a library over any
//! [`Store`](ticketcore::Store). An incoming message is parsed ([`Inbound`]), checked against
//! what was taken in before (idempotent by Message-ID, or by content without one), matched
//! against the configuration's filters, recognised as a follow-up (ticket number in the
//! subject, In-Reply-To/References, optionally the body) or routed by recipient to a queue,
//! and answered automatically where the queue has an auto-response and loop protection
//! allows ([`autoreply`]). Delivery-status reports attach to the ticket whose mail bounced.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use ticketcore::{Config, Desk, MemoryStore};
//! use ticketcore_mail::{Outcome, Postmaster};
//!
//! let desk = Arc::new(Desk::new(Arc::new(MemoryStore::new())));
//! desk.configure(Config::from_toml(r#"
//!     [[groups]]
//!     name = "support"
//!     [[queues]]
//!     name = "Support"
//!     group = "support"
//!     address = "support@example.org"
//! "#)?).await?;
//! let postmaster = Postmaster::new(desk);
//! let mail = b"From: Karla <karla@example.com>\r\nTo: support@example.org\r\n\
//!     Subject: Printer on fire\r\nMessage-ID: <1@example.com>\r\n\r\nIt smokes.\r\n";
//! let delivery = postmaster.deliver(mail).await?;
//! assert_eq!(delivery.outcome, Outcome::Created);
//! assert_eq!(postmaster.deliver(mail).await?.outcome, Outcome::Duplicate);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```
#![deny(missing_docs)]

pub mod autoreply;
mod charset;
mod error;
pub mod filter;
pub mod followup;
pub mod inbound;
pub mod outbound;
mod outbox;
mod postmaster;
pub mod source;
pub mod template;
pub mod transport;

pub use crate::error::MailError;
pub use crate::inbound::{DeliveryReport, Inbound, Mailbox};
pub use crate::outbound::Outgoing;
pub use crate::outbox::{Outbox, OutboxReport};
pub use crate::postmaster::{Delivery, Outcome, Postmaster, route};
pub use crate::transport::{SendError, Transport};

impl From<ticketcore::StoreError> for MailError {
    fn from(e: ticketcore::StoreError) -> Self {
        MailError::Desk(e.into())
    }
}
