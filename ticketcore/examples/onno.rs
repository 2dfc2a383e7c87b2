//! onno's account applications, told step by step: an applicant applies through the web, an
//! agent locks the application and forgets it, the lock is released after twelve hours, the
//! application warns and then escalates as its two days run out, and a colleague decides it.
//! A manual clock runs the two days in a second.
//!
//! `cargo run -p ticketcore --example onno`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

mod story;

use std::fmt::Write;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ticketcore::{
    Actor, Channel, Config, Desk, Error, EventKind, ManualClock, MemoryStore, Message, NewTicket,
    TicketId,
};

const DESK: &str = r#"
[[groups]]
name = "onno"

[[queues]]
name = "Kontoanträge"
group = "onno"
unlock_timeout = "12h"   # a lock its holder does not work under is released after 12 hours
solution = "2d"          # a decision is promised within two days (around the clock)

[[agents]]
login = "ocke"
name = "Ocke"
groups = { onno = ["rw"] }

[[agents]]
login = "frauke"
name = "Frauke"
groups = { onno = ["rw"] }

[[customers]]
login = "antje"
name = "Antje Antragstellerin"
email = "antje@example.org"
"#;

/// What happened since `after` on the ticket, one line per event, and the newest sequence.
async fn happened(desk: &Desk, id: TicketId, after: u64, out: &mut String) -> u64 {
    let mut last = after;
    for e in desk.history(&Actor::System, id).await.unwrap() {
        if e.seq <= after {
            continue;
        }
        last = e.seq;
        let what = match &e.kind {
            EventKind::Notify { reason, agents, .. } => {
                format!("{} told: {}", agents.join(", "), reason.name())
            }
            kind => kind.history_type().to_string(),
        };
        writeln!(
            out,
            "    {} by {}: {what}",
            e.at.format("%a %H:%M"),
            e.actor
        )
        .unwrap();
    }
    last
}

/// The story, written to `out`.
pub async fn story(out: &mut String) -> Result<(), Error> {
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let desk =
        Arc::new(Desk::new(Arc::new(MemoryStore::new())).with_clock(Arc::new(clock.clone())));
    desk.configure(Config::from_toml(DESK)?).await?;
    let (ocke, frauke, antje) = (
        Actor::agent("ocke"),
        Actor::agent("frauke"),
        Actor::customer("antje"),
    );

    writeln!(
        out,
        "Monday 09:00: Antje applies for an account through the web form."
    )
    .unwrap();
    let form = Message::text("Ich beantrage ein Konto für den Verein. Unterlagen anbei.");
    let input = NewTicket::new("Kontoanträge", "Antrag auf ein Konto", Channel::Web, form);
    let ticket = desk.create_ticket(&antje, input).await?.ticket;
    let mut seen = happened(&desk, ticket.id, 0, out).await;
    writeln!(
        out,
        "  Due: a decision by {}.",
        ticket
            .escalation
            .solution
            .as_ref()
            .unwrap()
            .due
            .format("%a %H:%M")
    )
    .unwrap();

    clock.advance(Duration::hours(1));
    writeln!(
        out,
        "10:00: Ocke locks it to work on it, then is called away."
    )
    .unwrap();
    desk.lock(&ocke, ticket.id).await?;
    seen = happened(&desk, ticket.id, seen, out).await;
    match desk
        .note(&frauke, ticket.id, Message::text("Soll ich?"), false, &[])
        .await
    {
        Err(e) => writeln!(out, "  Frauke may not add to it meanwhile: {e}").unwrap(),
        Ok(_) => writeln!(out, "  Frauke adds a note (notes do not need the lock).").unwrap(),
    }
    seen = happened(&desk, ticket.id, seen, out).await;

    for hours in [13, 29, 39, 49] {
        let now = start + Duration::hours(hours);
        clock.set(now);
        let report = desk.tick(now).await?;
        writeln!(
            out,
            "{}: maintenance: {} unlocked, {} warnings, {} escalations.",
            now.format("%a %H:%M"),
            report.unlocked,
            report.warnings,
            report.escalations
        )
        .unwrap();
        seen = happened(&desk, ticket.id, seen, out).await;
    }

    writeln!(
        out,
        "Wednesday 10:00: Frauke takes it over, answers and closes it."
    )
    .unwrap();
    desk.lock(&frauke, ticket.id).await?;
    desk.reply(
        &frauke,
        ticket.id,
        Message::text("Ihr Konto ist eingerichtet. Willkommen!"),
    )
    .await?;
    let done = desk
        .set_state(&frauke, ticket.id, "closed successful", None)
        .await?
        .ticket;
    happened(&desk, ticket.id, seen, out).await;
    writeln!(out, "  The application is {}.", done.state).unwrap();

    writeln!(out, "What Antje sees on her request:").unwrap();
    for a in desk.articles(&antje, ticket.id).await? {
        writeln!(
            out,
            "    {:?} from {}: {}",
            a.sender,
            a.author,
            a.body.lines().next().unwrap_or("")
        )
        .unwrap();
    }
    Ok(())
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), Error> {
    print!("{}", story::tell(story)?);
    Ok(())
}

#[test]
fn the_story_runs() {
    let out = story::tell(story).unwrap();
    for line in [
        "1 unlocked",
        "ocke told: lock_timeout",
        "1 warnings",
        "ocke told: escalation_warning",
        "1 escalations",
        "ocke told: escalation\n",
        "The application is closed successful",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let antje = out.split("What Antje sees").nth(1).unwrap();
    assert!(
        antje.contains("Willkommen") && !antje.contains("Soll ich?"),
        "{antje}"
    );
}
