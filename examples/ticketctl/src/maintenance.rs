//! `ticketctl tick` and `serve-tick`: one round of maintenance and the outbox, or the desk's
//! resident process (see `ticketcore_app::resident`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;
use ticketcore_app::resident::{self, Voice};

pub use ticketcore_app::resident::stopped;

pub async fn tick(access: &Access, now: Option<DateTime<Utc>>) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let now = now.unwrap_or_else(|| desk.now());
    let r = resident::round(&desk, now).await?;
    println!("{}", resident::describe(now, &r));
    Ok(0)
}

/// Runs the resident until Ctrl-C or SIGTERM.
pub async fn serve(access: &Access, poll: u64) -> Result<u8, Failure> {
    let voice = Voice {
        say: &|line| println!("{line}"),
        complain: &|line| eprintln!("ticketctl: {line}"),
    };
    let poll = Duration::from_secs(poll);
    resident::serve(access, None, poll, stopped(), voice).await?;
    Ok(0)
}
