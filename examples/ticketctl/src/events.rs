//! `ticketctl events`: the event log as JSON lines, the interface a bot in any language
//! consumes. A follower restarts where it stopped by passing the last `seq` it saw as
//! `--since`.

use std::io::Write;
use std::time::Duration;

use crate::failure::Failure;
use crate::maintenance::stopped;
use crate::open::Access;

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
        let store = match held.take() {
            Some(store) => store,
            None => access.store().await?,
        };
        loop {
            let events = store.events_since(cursor, PAGE).await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            let mut out = std::io::stdout().lock();
            for event in &events {
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
                drop(store);
                tokio::time::sleep(POLL).await;
                None
            } else {
                let started = tokio::time::Instant::now();
                let _ = store.wait_for_events(cursor, WAIT).await;
                // A store that cannot be woken returns at once: poll then.
                if started.elapsed() < Duration::from_millis(5) {
                    tokio::time::sleep(POLL).await;
                }
                Some(store)
            }
        };
        tokio::select! {
            kept = wait => held = kept,
            _ = &mut stop => return Ok(0),
        }
    }
}
