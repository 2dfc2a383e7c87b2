//! # ticketcore-app
//!
//! What every program that embeds a ticketcore desk needs beyond the engine, so the command
//! line, the web server and the bots share it rather than each writing its own:
//!
//! - [`open`]: a store from a URL (`redb:PATH`, `sqlite:PATH`, `postgres://…`, `mysql://…`),
//!   one cargo feature per backend, as object_store's `parse_url` does;
//! - [`transfer`]: a whole desk as JSON lines, exported from one backend and imported into
//!   another;
//! - [`spool`]: the mail spool an MTA's one-message process appends to and the desk's
//!   resident process delivers from;
//! - [`demo`]: the demo desk that `ticketctl demo` and the web server make on an empty store;
//! - [`resident`]: the desk's resident process (maintenance, outbox, spool), which
//!   `ticketctl serve-tick` and the web server run;
//! - [`answer`]: answers from templates and one-click actions (`[[macros]]`);
//! - [`webhook`]: the desk's events posted to `[[webhooks]]`, signed as Standard Webhooks
//!   says, at least once and in order, with backoff, pause and resume;
//! - `irc` (feature `irc-bot`): the IRC bot, announcements and agents' commands in channels;
//! - [`failure`]: why something failed, as one line and a sysexits-style status.
//!
//! ```no_run
//! # async fn run() -> Result<(), ticketcore_app::Failure> {
//! use ticketcore::Actor;
//! use ticketcore_app::Access;
//!
//! let desk = Access::new("redb:./ticketcore.redb")?.desk().await?;
//! let anna = desk.sign_in("anna", "demo-anna-2026").await?;
//! let page = desk.queue_view(&anna, Default::default()).await?;
//! # let _ = (page, Actor::System);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod answer;
pub mod demo;
pub mod failure;
#[cfg(feature = "irc-bot")]
pub mod irc;
mod journal;
pub mod open;
pub mod resident;
pub mod spool;
pub mod transfer;
pub mod webhook;

pub use failure::Failure;
pub use open::Access;
