//! `ticketctl tick` and `serve-tick`: expired locks, pending reminders and auto-close,
//! escalations, and the outbox (auto-responses and answers waiting to be sent).

use std::time::Duration;

use chrono::{DateTime, Utc};
use ticketcore::{Desk, TickReport};
use ticketcore_mail::{Outbox, OutboxReport, transport};

use crate::failure::{Failure, TEMPORARY};

/// The shortest time between two rounds of `serve-tick`.
const MIN_ROUND: Duration = Duration::from_millis(200);
use crate::open::Access;

/// What one round did, and when the next thing is due.
struct Round {
    tick: TickReport,
    outbox: Option<OutboxReport>,
    next_due: Option<DateTime<Utc>>,
}

async fn round(desk: &std::sync::Arc<Desk>, now: DateTime<Utc>) -> Result<Round, Failure> {
    let tick = desk.tick(now).await?;
    let outbox = match &desk.config().await?.mail.outbound {
        Some(url) => {
            let transport = transport::open(url)?;
            Some(
                Outbox::new(desk.clone(), transport.into())
                    .run_once()
                    .await?,
            )
        }
        None => None,
    };
    let next_due = desk.next_due().await?;
    Ok(Round {
        tick,
        outbox,
        next_due,
    })
}

fn describe(now: DateTime<Utc>, r: &Round) -> String {
    let t = &r.tick;
    let mut text = format!(
        "tick at {}: {} tickets changed ({} unlocked, {} reminders, {} closed, {} warnings, {} escalations)",
        now.to_rfc3339(),
        t.tickets,
        t.unlocked,
        t.reminders,
        t.closed,
        t.warnings,
        t.escalations
    );
    if let Some(o) = &r.outbox {
        text.push_str(&format!("; outbox: {} sent, {} failed", o.sent, o.failed));
        if o.waiting {
            text.push_str(", waiting for the transport");
        }
    }
    match r.next_due {
        Some(at) => text.push_str(&format!("; next due {}", at.to_rfc3339())),
        None => text.push_str("; nothing due"),
    }
    text
}

pub async fn tick(access: &Access, now: Option<DateTime<Utc>>) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let now = now.unwrap_or_else(|| desk.now());
    let r = round(&desk, now).await?;
    println!("{}", describe(now, &r));
    Ok(0)
}

/// Runs rounds until interrupted. A redb desk is opened for each round only, so mail
/// deliveries get the file in between; a shared store stays open and a commit in any process
/// wakes the loop early where the store can tell (PostgreSQL).
pub async fn serve(access: &Access, poll: u64) -> Result<u8, Failure> {
    let poll = Duration::from_secs(poll.max(1));
    let mut held = None;
    let stop = stopped();
    tokio::pin!(stop);
    loop {
        let desk = match held.take() {
            Some(desk) => desk,
            None => access.desk().await?,
        };
        let now = desk.now();
        let sleep = match round(&desk, now).await {
            Ok(r) => {
                let busy = r.tick.tickets > 0 || r.outbox.is_some_and(|o| o.sent + o.failed > 0);
                if busy {
                    println!("{}", describe(now, &r));
                }
                r.next_due
                    .and_then(|at| (at - now).to_std().ok())
                    .map_or(poll, |until| until.min(poll))
            }
            // A busy or unreachable store is worth waiting for; anything else is not.
            Err(f) if f.code == TEMPORARY => {
                eprintln!("ticketctl: {} (retrying)", f.message);
                poll
            }
            Err(f) => return Err(f),
        };
        let wait = async {
            if access.exclusive() {
                drop(desk);
                tokio::time::sleep(sleep).await;
                return None;
            }
            // New mail to send is what cannot wait for the next poll: wake on events past
            // the outbox's cursor, but never spin faster than MIN_ROUND.
            let started = tokio::time::Instant::now();
            let sends = desk.config().await.is_ok_and(|c| c.mail.outbound.is_some());
            match desk.store().cursor(Outbox::CONSUMER).await {
                Ok(after) if sends => {
                    let _ = desk.store().wait_for_events(after, sleep).await;
                    tokio::time::sleep_until(started + MIN_ROUND.min(sleep)).await;
                }
                _ => tokio::time::sleep(sleep).await,
            }
            Some(desk)
        };
        tokio::select! {
            kept = wait => held = kept,
            _ = &mut stop => return Ok(0),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, so a long-running command closes its store cleanly.
pub async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
