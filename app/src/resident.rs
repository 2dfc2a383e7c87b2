//! The desk's resident process: rounds of maintenance (expired locks, pending reminders and
//! auto-close, escalations) and the outbox (auto-responses and answers waiting to be sent),
//! and the mail spool that an MTA's `ticketctl ingest` appends to. `ticketctl serve-tick`
//! runs it; so does the web server, which on redb holds the file and must do the resident's
//! work itself.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use ticketcore::{Actor, Desk, TickReport};
use ticketcore_mail::{Outbox, OutboxReport, Postmaster, source, transport};

use crate::Access;
use crate::failure::{FAILED, Failure, TEMPORARY};
use crate::spool::{Attendant, Limits, Spool};
use crate::webhook::{WebhookReport, Webhooks};

/// The shortest time between two rounds.
const MIN_ROUND: Duration = Duration::from_millis(200);

/// Where a resident's lines go: what it did (`say`) and what went wrong (`complain`).
#[derive(Clone, Copy)]
pub struct Voice<'a> {
    /// A line about work done.
    pub say: &'a (dyn Fn(&str) + Send + Sync),
    /// A line about something that failed and is retried or set aside.
    pub complain: &'a (dyn Fn(&str) + Send + Sync),
}

impl std::fmt::Debug for Voice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Voice")
    }
}

/// What one round did, and when the next thing is due.
#[derive(Debug)]
pub struct Round {
    /// Maintenance.
    pub tick: TickReport,
    /// The outbox, when the desk sends mail.
    pub outbox: Option<OutboxReport>,
    /// The webhooks, when the desk has any.
    pub webhooks: Option<WebhookReport>,
    /// When the next thing is due.
    pub next_due: Option<DateTime<Utc>>,
}

/// One round as of `now`: maintenance, then the outbox, then the webhooks.
pub async fn round(desk: &Arc<Desk>, now: DateTime<Utc>) -> Result<Round, Failure> {
    let tick = desk.tick(now).await?;
    let config = desk.config().await?;
    let webhooks = match config.webhooks.is_empty() {
        true => None,
        false => Some(Webhooks::new(desk.clone())?.round().await?),
    };
    let outbox = match &config.mail.outbound {
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
        webhooks,
        next_due,
    })
}

/// One line saying what a round did.
pub fn describe(now: DateTime<Utc>, r: &Round) -> String {
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
    if let Some(w) = &r.webhooks {
        text.push_str(&format!(
            "; webhooks: {} delivered, {} failed",
            w.delivered, w.failed
        ));
        for notice in &w.notices {
            text.push_str(&format!("; {notice}"));
        }
    }
    match r.next_due {
        Some(at) => text.push_str(&format!("; next due {}", at.to_rfc3339())),
        None => text.push_str("; nothing due"),
    }
    text
}

/// Runs rounds until `stop` resolves, and attends the desk's mail spool: each round first
/// delivers what `ingest` has spooled. Without `held`, a redb desk is opened for each round
/// only, so other commands get the file in between; a shared store, or the desk a caller
/// holds anyway (`held`: the web server's), stays open, and a commit in any process wakes the
/// loop early where the store can tell (PostgreSQL). `ingest` rings for a round when it has
/// spooled a message.
pub async fn serve(
    access: &Access,
    held: Option<Arc<Desk>>,
    poll: Duration,
    stop: impl std::future::Future<Output = ()>,
    voice: Voice<'_>,
) -> Result<(), Failure> {
    let poll = poll.max(Duration::from_secs(1));
    let keep = held.is_some();
    let mut held = held;
    let mut attendant = match Spool::of(access).map(|s| s.attend()).transpose() {
        Ok(attendant) => attendant,
        Err(f) if f.code == FAILED => {
            (voice.complain)(&format!("{} (this one runs maintenance only)", f.message));
            None
        }
        Err(f) => return Err(f),
    };
    tokio::pin!(stop);
    loop {
        let started = tokio::time::Instant::now();
        let desk = match held.take() {
            Some(desk) => desk,
            None => access.desk().await?,
        };
        let now = desk.now();
        let mut more = false;
        let ran = match attend(&desk, attendant.as_mut(), voice).await {
            Ok(backlog) => {
                more = backlog;
                round(&desk, now).await
            }
            Err(f) => Err(f),
        };
        let sleep = match ran {
            Ok(r) => {
                let busy = r.tick.tickets > 0
                    || r.outbox.is_some_and(|o| o.sent + o.failed > 0)
                    || r.webhooks
                        .as_ref()
                        .is_some_and(|w| w.delivered + w.failed > 0);
                if let Some(w) = &r.webhooks {
                    for notice in &w.notices {
                        (voice.complain)(notice);
                    }
                }
                if busy {
                    (voice.say)(&describe(now, &r));
                }
                r.next_due
                    .and_then(|at| (at - now).to_std().ok())
                    .map_or(poll, |until| until.min(poll))
            }
            // A busy or unreachable store is worth waiting for; anything else is not.
            Err(f) if f.code == TEMPORARY => {
                (voice.complain)(&format!("{} (retrying)", f.message));
                poll
            }
            Err(f) => return Err(f),
        };
        if keep || !access.exclusive() {
            held = Some(desk.clone());
        }
        drop(desk);
        if more {
            continue;
        }
        let wait = async {
            let Some(desk) = &held else {
                tokio::time::sleep(sleep).await;
                return;
            };
            // New mail to send is what cannot wait for the next poll: the next event past
            // the outbox's cursor starts a round, but never faster than MIN_ROUND.
            let started = tokio::time::Instant::now();
            let config = desk.config().await.ok();
            let sends = config.as_ref().is_some_and(|c| c.mail.outbound.is_some());
            let hooks = config.as_ref().is_some_and(|c| !c.webhooks.is_empty());
            let after = match (sends, hooks) {
                (true, false) => desk.cursor(&Actor::System, Outbox::CONSUMER).await,
                _ => desk.last_seq().await,
            };
            match after {
                Ok(after) if sends || hooks => {
                    let events = desk.follow(Actor::System, after);
                    tokio::pin!(events);
                    let _ = tokio::time::timeout(sleep, events.next()).await;
                    tokio::time::sleep_until(started + MIN_ROUND.min(sleep)).await;
                }
                _ => tokio::time::sleep(sleep).await,
            }
        };
        let rung = async {
            match &attendant {
                Some(a) => a.rung().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait => {}
            // Mail that rings right after a round waits for a few more to come along.
            () = rung => tokio::time::sleep_until(started + SPOOL_GATHER).await,
            _ = &mut stop => return Ok(()),
        }
    }
}

/// The shortest time between two rounds started by spooled mail: a round opens the desk,
/// delivers, runs maintenance and closes it again, and under a steady stream of mail
/// (an MTA delivering hundreds of messages a second) each round should take in many.
const SPOOL_GATHER: Duration = Duration::from_millis(500);

/// Most spooled messages one round reads and delivers: bounds memory; the rest follow in
/// the next round, at once.
const SPOOL_ROUND: usize = 4096;

/// Publishes the desk's limits to `ingest` and delivers what waits in the spool (its
/// journal, then its files), many messages in flight so their commits are grouped. A
/// temporary failure keeps the message for the next round; one that can never be taken in
/// is kept in `failed/`. Returns whether more files are waiting than one round takes.
async fn attend(
    desk: &Arc<Desk>,
    attendant: Option<&mut Attendant>,
    voice: Voice<'_>,
) -> Result<bool, Failure> {
    let Some(attendant) = attendant else {
        return Ok(false);
    };
    let max_message_size = desk.config().await?.mail.max_message_size;
    attendant.publish(Limits { max_message_size })?;
    let dir = attendant.spool().dir().display().to_string();
    let spool_failure = |e: std::io::Error| Failure {
        message: format!("spool {dir}: {e}"),
        code: TEMPORARY,
    };
    let journal = attendant.journal().map_err(spool_failure)?;
    let files = attendant.waiting().map_err(spool_failure)?;
    if journal.messages.is_empty() && files.is_empty() {
        return Ok(false);
    }
    let backlog = files.len() > SPOOL_ROUND;
    const JOURNAL: &str = "journal #";
    // Indices rather than borrowed items: the future stays Send (a web server runs it on
    // its multi-threaded runtime).
    let records = &journal.messages;
    let messages = (0..records.len())
        .map(|i| (format!("{JOURNAL}{i}"), records[i].clone()))
        .chain(
            files
                .into_iter()
                .take(SPOOL_ROUND)
                .filter_map(|path| Some((path.display().to_string(), std::fs::read(&path).ok()?))),
        );
    let (mut delivered, mut kept, mut aside, mut journal_kept) = (0, 0, 0, false);
    let postmaster = Arc::new(Postmaster::new(desk.clone()));
    source::deliver_all(postmaster, messages, source::IN_FLIGHT, |h| {
        let record = h
            .source
            .strip_prefix(JOURNAL)
            .and_then(|i| journal.messages.get(i.parse::<usize>().ok()?));
        let file = std::path::Path::new(&h.source);
        match &h.result {
            Ok(_) => {
                delivered += 1;
                // Gone already is fine: delivering it again finds a duplicate.
                if record.is_none() {
                    let _ = std::fs::remove_file(file);
                }
            }
            Err(e) if e.is_temporary() => {
                kept += 1;
                journal_kept |= record.is_some();
                (voice.complain)(&format!(
                    "spool {}: {e} (kept for the next round)",
                    h.source
                ));
            }
            Err(e) => {
                aside += 1;
                (voice.complain)(&format!("spool {}: {e} (kept in failed/)", h.source));
                let kept = match record {
                    Some(raw) => attendant.keep_failed(raw),
                    None => attendant.set_aside(file),
                };
                if let Err(e) = kept {
                    (voice.complain)(&format!(
                        "spool {}: cannot keep it in failed/: {e}",
                        h.source
                    ));
                }
            }
        }
    })
    .await?;
    if !journal_kept {
        attendant.delivered(journal.end).map_err(spool_failure)?;
    }
    (voice.say)(&format!(
        "spool: {delivered} delivered, {aside} kept in failed/, {kept} kept for a retry"
    ));
    Ok(backlog && kept == 0)
}

/// Resolves on Ctrl-C or SIGTERM, so a long-running command closes its store cleanly. The
/// handlers are installed when this is called, not when it is first awaited: a signal
/// during a command's first round must not kill it halfway.
pub fn stopped() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, interrupt) {
                (Some(mut term), Some(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
