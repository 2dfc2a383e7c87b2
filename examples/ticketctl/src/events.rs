//! `ticketctl events`: the event log as JSON lines, the interface a bot in any language
//! consumes. A follower restarts where it stopped by passing the last `seq` it saw as
//! `--since`.

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use ticketcore::{Actor, Event};

use crate::maintenance::stopped;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

/// Events read per store query.
const PAGE: usize = 1000;
/// A redb file admits one process at a time, so a follower of a redb desk cannot keep it
/// open: it opens the file, follows until the log has been quiet this long, and closes it
/// again for as long, so mail deliveries get their turn. (A shared store stays open, and its
/// follower is woken by each commit.)
const QUIET: Duration = Duration::from_millis(500);

/// Prints `event` as a JSON line; `false` when the reader went away (`| head`).
fn print(event: &Event) -> Result<bool, Failure> {
    let line = serde_json::to_string(event)?;
    let mut out = std::io::stdout().lock();
    Ok(writeln!(out, "{line}").is_ok() && out.flush().is_ok())
}

pub async fn run(access: &Access, since: u64, follow: bool) -> Result<u8, Failure> {
    let mut cursor = since;
    if !follow {
        let desk = access.desk().await?;
        loop {
            let page = desk.events_since(&Actor::System, cursor, PAGE).await?;
            if page.cursor == cursor {
                return Ok(0);
            }
            for event in &page.events {
                if !print(event)? {
                    return Ok(0);
                }
            }
            cursor = page.cursor;
        }
    }
    let stop = stopped();
    tokio::pin!(stop);
    loop {
        let desk = access.desk().await?;
        // Boxed, so dropping it below closes the store before the pause.
        let mut events = Box::pin(desk.follow(Actor::System, cursor));
        loop {
            let next = async {
                if access.exclusive() {
                    tokio::time::timeout(QUIET, events.next()).await.ok()
                } else {
                    Some(events.next().await)
                }
            };
            let next = tokio::select! {
                next = next => next,
                _ = &mut stop => return Ok(0),
            };
            match next {
                Some(Some(event)) => {
                    let event = event?;
                    cursor = event.seq;
                    if !print(&event)? {
                        return Ok(0);
                    }
                }
                Some(None) => return Ok(0),
                // Quiet on a redb desk: let other processes have the file for a while.
                None => break,
            }
        }
        drop(events);
        drop(desk);
        tokio::select! {
            () = tokio::time::sleep(QUIET) => {}
            _ = &mut stop => return Ok(0),
        }
    }
}
