//! A sports club's donation, told step by step: a sponsor offers a donation for the youth
//! teams; the office takes it in, passes it to the treasurer, who splits the work in two (the
//! receipt stays with the treasurer, the youth coach gets a ticket of his own to choose the
//! kit), and each part is closed on its own. At each step: who holds what.
//!
//! `cargo run -p ticketcore --example club`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

mod story;

use std::fmt::Write;
use std::sync::Arc;

use ticketcore::{
    Actor, Channel, Config, Desk, Error, MemoryStore, Message, NewTicket, Ticket, TicketQuery,
};

const DESK: &str = r#"
[[groups]]
name = "office"
[[groups]]
name = "treasury"
[[groups]]
name = "youth"

[[queues]]
name = "Geschäftsstelle"   # the office: everything arrives here
group = "office"
[[queues]]
name = "Kasse"             # the treasurer
group = "treasury"
[[queues]]
name = "Jugend"            # the youth department
group = "youth"

[[agents]]
login = "olga"
name = "Olga (office)"
groups = { office = ["rw"], treasury = ["move_into"], youth = ["move_into"] }
[[agents]]
login = "tom"
name = "Tom (treasurer)"
groups = { treasury = ["rw"], youth = ["move_into", "create"] }
[[agents]]
login = "jens"
name = "Jens (youth coach)"
groups = { youth = ["rw"] }

[[customers]]
login = "sponsor"
name = "Autohaus Nord"
email = "info@autohaus-nord.example"
"#;

fn line(t: &Ticket) -> String {
    let holder = t.lock.holder().unwrap_or("nobody");
    format!(
        "{} [{}] in {}, {} (locked by {holder})",
        t.number, t.title, t.queue, t.state
    )
}

/// Every open ticket and who may see it.
async fn board(desk: &Desk, out: &mut String) {
    for login in ["olga", "tom", "jens"] {
        let page = desk
            .queue_view(&Actor::agent(login), TicketQuery::default())
            .await
            .unwrap();
        let open: Vec<&Ticket> = page
            .tickets
            .iter()
            .filter(|t| !t.state_type.is_closed())
            .collect();
        for t in &open {
            writeln!(out, "    {login} sees {}", line(t)).unwrap();
        }
        if open.is_empty() {
            writeln!(out, "    {login} sees nothing").unwrap();
        }
    }
}

/// The story, written to `out`.
pub async fn story(out: &mut String) -> Result<(), Error> {
    let desk = Desk::new(Arc::new(MemoryStore::new()));
    desk.configure(Config::from_toml(DESK)?).await?;
    let (olga, tom, jens) = (
        Actor::agent("olga"),
        Actor::agent("tom"),
        Actor::agent("jens"),
    );

    writeln!(out, "1. The sponsor writes to the office.").unwrap();
    let mail = Message::text(
        "Wir möchten der Jugendabteilung 2.000 € für neue Trikots spenden.\n\
         Bitte schicken Sie uns eine Spendenquittung.",
    );
    let input = NewTicket::new(
        "Geschäftsstelle",
        "Spende Jugendtrikots",
        Channel::Email,
        mail,
    )
    .for_customer("sponsor");
    let donation = desk.create_ticket(&Actor::System, input).await?.ticket;
    board(&desk, out).await;

    writeln!(
        out,
        "2. Olga thanks the sponsor and passes the donation to the treasurer."
    )
    .unwrap();
    desk.lock(&olga, donation.id).await?;
    desk.reply(
        &olga,
        donation.id,
        Message::text("Herzlichen Dank! Unser Kassenwart meldet sich."),
    )
    .await?;
    desk.note(
        &olga,
        donation.id,
        Message::text("Spende: Quittung nötig, Geld für Jugendtrikots."),
        false,
        &["tom"],
    )
    .await?;
    desk.move_ticket(&olga, donation.id, "Kasse").await?;
    board(&desk, out).await;

    writeln!(
        out,
        "3. Tom splits the work: the kit goes to the youth coach as a ticket of its own."
    )
    .unwrap();
    desk.lock(&tom, donation.id).await?;
    let first = desk.articles(&tom, donation.id).await?.remove(0);
    let kit = desk
        .split(
            &tom,
            donation.id,
            first.id,
            "Jugend",
            Some("Trikots aussuchen (Spende)"),
        )
        .await?
        .ticket;
    board(&desk, out).await;
    let linked = desk.ticket(&tom, donation.id).await?.links;
    for link in &linked {
        writeln!(
            out,
            "    the donation is linked to {} ({:?})",
            link.number, link.kind
        )
        .unwrap();
    }

    writeln!(
        out,
        "4. Both parts go on in parallel and close on their own."
    )
    .unwrap();
    desk.reply(
        &tom,
        donation.id,
        Message::text("Anbei Ihre Spendenquittung über 2.000 €."),
    )
    .await?;
    desk.set_state(&tom, donation.id, "closed successful", None)
        .await?;
    writeln!(out, "    Tom sent the receipt and closed the donation.").unwrap();
    desk.lock(&jens, kit.id).await?;
    desk.note(
        &jens,
        kit.id,
        Message::text("Trikots bestellt: 20 Stück, Lieferung in 3 Wochen."),
        false,
        &[],
    )
    .await?;
    desk.set_state(&jens, kit.id, "closed successful", None)
        .await?;
    writeln!(out, "    Jens ordered the kit and closed his part.").unwrap();
    board(&desk, out).await;

    writeln!(out, "5. The sponsor's view of the donation:").unwrap();
    for a in desk
        .articles(&Actor::customer("sponsor"), donation.id)
        .await?
    {
        writeln!(
            out,
            "    {:?}: {}",
            a.sender,
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
    let step3 = out
        .split("3. ")
        .nth(1)
        .unwrap()
        .split("4. ")
        .next()
        .unwrap();
    assert!(
        step3.contains("jens sees") && step3.contains("Trikots aussuchen"),
        "{step3}"
    );
    assert!(step3.contains("linked to"), "{step3}");
    let after = out
        .split("4. ")
        .nth(1)
        .unwrap()
        .split("5. ")
        .next()
        .unwrap();
    assert!(
        after.contains("olga sees nothing") && after.contains("jens sees nothing"),
        "{after}"
    );
    let sponsor = out.split("5. ").nth(1).unwrap();
    assert!(
        sponsor.contains("Spendenquittung") && !sponsor.contains("Quittung nötig"),
        "{sponsor}"
    );
}
