//! # ticketcore
//!
//! An embeddable ticketing engine in the tradition of OTRS/Znuny: tickets with immutable
//! numbers, queues, states, locks, role-based queue permissions, history, follow-ups, merge and
//! split, as a library with pluggable storage.
//!
//! The shape (see ARCHITECTURE.md): a [`Desk`] loads a ticket and the configuration from a
//! [`Store`], the pure [`rules`] compute the change (permissions included, via [`acl`]), and the
//! store commits it with compare-and-swap on the ticket's version. Every change appends
//! [`Event`]s to one log: ticket history, outbox and the stream bots follow.
//!
//! ```
//! use std::sync::Arc;
//! use ticketcore::{Actor, Channel, Config, Desk, MemoryStore, Message, NewTicket};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let desk = Desk::new(Arc::new(MemoryStore::new()));
//! desk.configure(Config::from_toml(r#"
//!     [[groups]]
//!     name = "support"
//!     [[queues]]
//!     name = "Support"
//!     group = "support"
//!     [[agents]]
//!     login = "anna"
//!     groups = { support = ["rw"] }
//! "#)?).await?;
//!
//! let karla = Actor::customer("karla");
//! let anna = Actor::agent("anna");
//!
//! // A customer writes in through the web.
//! let ticket = desk
//!     .create_ticket(&karla, NewTicket::new("Support", "Printer on fire", Channel::Web,
//!         Message::text("It smokes.")))
//!     .await?
//!     .ticket;
//!
//! desk.lock(&anna, ticket.id).await?;
//! desk.reply(&anna, ticket.id, Message::text("Unplug it, help is on its way.")).await?;
//! desk.set_state(&anna, ticket.id, "closed successful", None).await?;
//!
//! let history: Vec<_> = desk.history(&anna, ticket.id).await?
//!     .iter().map(|e| e.kind.history_type()).collect();
//! assert_eq!(history, ["NewTicket", "WebRequestCustomer", "SendAgentNotification", "Lock",
//!     "OwnerUpdate", "SendAnswer", "StateUpdate", "StateUpdate", "Unlock"]);
//! # Ok::<_, ticketcore::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Examples to read and copy
//!
//! - `examples/party.rs`, `examples/club.rs`, `examples/onno.rs` in this package: three desks
//!   told step by step (transfer queues and notes between board members; a donation split into
//!   parallel work; lock release and escalation on a manual clock):
//!   `cargo run -p ticketcore --example party`.
//! - `examples/contact-form` in the repository: a contact form in an axum app of its own that
//!   files tickets through the [`Desk`].
//! - `examples/web-server` (`ticketcore-web`): the agent desk, the customer portal and the
//!   JSON API, every request acting through the [`Desk`] as the signed-in caller.
//! - `examples/ticketctl`: the command line, including the mail pipe an MTA calls.
#![deny(missing_docs)]

pub mod account;
pub mod acl;
pub mod analyzer;
pub mod article;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod desk;
mod error;
pub mod escalation;
pub mod event;
pub mod faq;
pub mod finding;
mod follow;
mod knowledge;
mod lookup;
pub mod memory;
pub mod notify;
pub mod number;
mod numbering;
pub mod rules;
pub mod search;
mod signin;
mod stamp;
pub mod state;
pub mod stats;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod ticket;

pub use account::{Account, ApiToken, Holder, StoredAccount};
pub use acl::{Agent, CustomerUser, Permission, Viewer};
pub use article::{Article, ArticleId, Attachment, Channel, Message, NewAttachment, Sender};
pub use clock::{Clock, Entropy, ManualClock, OsEntropy, SeededEntropy, SystemClock};
pub use config::{Config, ConfigError, FaqCategory, FollowUpPolicy, Queue, UnknownSender};
pub use desk::{Committed, Desk, FollowedUp, TickReport};
pub use error::{Error, Result};
pub use escalation::{Deadline, DeadlineKind, Escalation};
pub use event::{Actor, Event, EventKind, HistoryEntry};
pub use faq::{FaqEntry, FaqHit, FaqKey, FaqPage, FaqQuery, FaqState};
pub use finding::{Found, FoundRow, Paging, Results, Snippet};
pub use follow::EventPage;
pub use knowledge::{FaqEdit, FaqFound, FaqResults, FaqRow, NewFaq};
pub use memory::MemoryStore;
pub use number::{Generator, NumberConfig, NumberError, TicketNumber};
pub use rules::{FollowUpAction, NewTicket, Op};
pub use search::{SearchDoc, SearchHit, SearchKey, SearchPage, SearchQuery, SearchUpdate};
pub use state::{State, StateType};
pub use store::{
    Change, PageKey, Quota, Receipt, Store, StoreError, StoreResult, TicketPage, TicketQuery,
    TicketWrite,
};
pub use ticket::{DueKind, Link, LinkKind, Lock, Priority, Ticket, TicketId};
