//! A party's branches, told step by step: a member writes to her district branch, which finds
//! the matter belongs to the state board and hands it over through the board's transfer queue
//! (it may put tickets in, not look inside); the board members pass it between them with
//! notes naming each other, answer the member, and close it. At each step: who sees what.
//!
//! `cargo run -p ticketcore --example party`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

mod story;

use std::fmt::Write;
use std::sync::Arc;

use ticketcore::{
    Actor, Channel, Config, Desk, Error, EventKind, MemoryStore, Message, NewTicket, TicketId,
    TicketQuery,
};

const DESK: &str = r#"
[[groups]]
name = "lv"            # the state association (Landesverband) and its board
[[groups]]
name = "kv-altona"     # a district branch (Kreisverband)
[[groups]]
name = "kv-harburg"

[[queues]]
name = "LV"
group = "lv"
[[queues]]
name = "LV::Vorstand"  # the board's queue
group = "lv"
[[queues]]
name = "KV Altona"
group = "kv-altona"
[[queues]]
name = "KV Harburg"
group = "kv-harburg"

# Each branch works its own queues (rw) and may hand tickets to the others (move_into)
# without seeing theirs: the others' queues are transfer queues to it.
[[agents]]
login = "alex"
name = "Alex (KV Altona)"
groups = { kv-altona = ["rw"], lv = ["move_into"], kv-harburg = ["move_into"] }
[[agents]]
login = "harald"
name = "Harald (KV Harburg)"
groups = { kv-harburg = ["rw"], lv = ["move_into"], kv-altona = ["move_into"] }
[[agents]]
login = "lena"
name = "Lena (LV board, chair)"
groups = { lv = ["rw"], kv-altona = ["move_into"], kv-harburg = ["move_into"] }
[[agents]]
login = "lars"
name = "Lars (LV board, treasurer)"
groups = { lv = ["rw"] }

[[customers]]
login = "mia"
name = "Mia Mitglied"
email = "mia@example.org"
"#;

/// Who sees which tickets now.
async fn views(desk: &Desk, out: &mut String) {
    for login in ["alex", "harald", "lena", "lars"] {
        let page = desk
            .queue_view(&Actor::agent(login), TicketQuery::default())
            .await
            .unwrap();
        let seen: Vec<String> = page
            .tickets
            .iter()
            .map(|t| format!("{} in {}", t.title, t.queue))
            .collect();
        let seen = if seen.is_empty() {
            "nothing".to_string()
        } else {
            seen.join("; ")
        };
        writeln!(out, "    {login} sees: {seen}").unwrap();
    }
}

/// Whom the ticket's latest events told, and why.
async fn told(desk: &Desk, id: TicketId, out: &mut String) {
    let history = desk.history(&Actor::System, id).await.unwrap();
    if let Some(EventKind::Notify { reason, agents, .. }) = history.last().map(|e| &e.kind) {
        writeln!(out, "    told: {} ({})", agents.join(", "), reason.name()).unwrap();
    }
}

/// The story, written to `out`.
pub async fn story(out: &mut String) -> Result<(), Error> {
    let desk = Desk::new(Arc::new(MemoryStore::new()));
    desk.configure(Config::from_toml(DESK)?).await?;
    let (alex, lena, lars, mia) = (
        Actor::agent("alex"),
        Actor::agent("lena"),
        Actor::agent("lars"),
        Actor::customer("mia"),
    );

    writeln!(out, "1. Mia writes to her district branch, KV Altona.").unwrap();
    let mail =
        Message::text("Wann wird die Landesliste aufgestellt, und wie kann ich kandidieren?");
    let input = NewTicket::new("KV Altona", "Kandidatur Landesliste", Channel::Email, mail)
        .for_customer("mia");
    let ticket = desk.create_ticket(&Actor::System, input).await?.ticket;
    told(&desk, ticket.id, out).await;
    views(&desk, out).await;

    writeln!(
        out,
        "2. Alex locks it, finds it is the state board's matter, notes why and hands it over."
    )
    .unwrap();
    desk.lock(&alex, ticket.id).await?;
    desk.note(
        &alex,
        ticket.id,
        Message::text("Landesliste ist Sache des LV-Vorstands."),
        false,
        &[],
    )
    .await?;
    desk.move_ticket(&alex, ticket.id, "LV::Vorstand").await?;
    told(&desk, ticket.id, out).await;
    views(&desk, out).await;
    match desk.ticket(&alex, ticket.id).await {
        Err(Error::NotFound(_)) => writeln!(
            out,
            "    Alex opening it again: refused, not his to see any more."
        )
        .unwrap(),
        Err(e) => return Err(e),
        Ok(_) => writeln!(out, "    Alex can still open it.").unwrap(),
    }

    writeln!(
        out,
        "3. Lena asks Lars, the treasurer, in a note naming him."
    )
    .unwrap();
    desk.note(
        &lena,
        ticket.id,
        Message::text("Lars, kannst du Mia die Fristen schicken?"),
        false,
        &["lars"],
    )
    .await?;
    told(&desk, ticket.id, out).await;

    writeln!(out, "4. Lars answers Mia and closes the ticket.").unwrap();
    desk.lock(&lars, ticket.id).await?;
    desk.reply(
        &lars,
        ticket.id,
        Message::text("Die Aufstellung ist am 12. Juni; Bewerbungen bis 1. Juni."),
    )
    .await?;
    let closed = desk
        .set_state(&lars, ticket.id, "closed successful", None)
        .await?
        .ticket;
    writeln!(out, "    state: {}", closed.state).unwrap();

    writeln!(
        out,
        "5. What Mia sees of her ticket (never the board's notes):"
    )
    .unwrap();
    for a in desk.articles(&mia, ticket.id).await? {
        writeln!(out, "    {:?}: {}", a.sender, a.body).unwrap();
    }
    writeln!(out, "6. The history the board sees:").unwrap();
    for e in desk.history(&lena, ticket.id).await? {
        writeln!(out, "    {} by {}", e.kind.history_type(), e.actor).unwrap();
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
    assert!(out.contains("Alex opening it again: refused"), "{out}");
    assert!(out.contains("told: lars (note)"), "{out}");
    assert!(
        !out.contains("Sache des LV-Vorstands.\n    Customer"),
        "{out}"
    );
    let mia = out
        .split("5. What Mia sees")
        .nth(1)
        .unwrap()
        .split("6.")
        .next()
        .unwrap();
    assert!(
        !mia.contains("Lars, kannst du") && !mia.contains("Landesliste ist Sache"),
        "{mia}"
    );
    assert!(mia.contains("Bewerbungen bis 1. Juni"), "{mia}");
}
