//! `ticketctl events`: the event log as JSON lines, the interface a bot in any language
//! consumes. A follower restarts where it stopped by passing the last `seq` it saw as
//! `--since`.

use std::io::Write;
use std::time::Duration;

use ticketcore::Actor;

use crate::maintenance::stopped;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

/// Events read per store query.
const PAGE: usize = 1000;
/// How often a follower of a redb desk (which cannot be woken) looks for new events; it
/// opens the file only to look, so mail deliveries are not locked out.
const POLL: Duration = Duration::from_millis(500);
/// How long a follower of a shared store waits to be woken before looking anyway.
const WAIT: Duration = Duration::from_secs(30);

pub async fn run(access: &Access, since: u64, follow: bool) -> Result<u8, Failure> {
    let mut cursor = since;
    let stop = stopped();
    tokio::pin!(stop);
    let mut held = None;
    loop {
        let desk = match held.take() {
            Some(desk) => desk,
            None => access.desk().await?,
        };
        loop {
            let page = desk.events_since(&Actor::System, cursor, PAGE).await?;
            if page.cursor == cursor {
                break;
            }
            let last = page.cursor;
            let mut out = std::io::stdout().lock();
            for event in &page.events {
                let line = serde_json::to_string(event)?;
                // A reader that went away (`| head`) ends the command, not in a panic.
                if writeln!(out, "{line}").is_err() {
                    return Ok(0);
                }
            }
            if out.flush().is_err() {
                return Ok(0);
            }
            cursor = last;
        }
        if !follow {
            return Ok(0);
        }
        let wait = async {
            if access.exclusive() {
                drop(desk);
                tokio::time::sleep(POLL).await;
                None
            } else {
                let started = tokio::time::Instant::now();
                let _ = desk.wait_for_events(cursor, WAIT).await;
                // A store that cannot be woken returns at once: poll then.
                if started.elapsed() < Duration::from_millis(5) {
                    tokio::time::sleep(POLL).await;
                }
                Some(desk)
            }
        };
        tokio::select! {
            kept = wait => held = kept,
            _ = &mut stop => return Ok(0),
        }
    }
}
