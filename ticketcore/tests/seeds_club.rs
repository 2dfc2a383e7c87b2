//! Seed story: a sports club. Mail arrives in "Allgemein"; the board ("Vorstand") has a
//! treasurer's sub-queue the bookkeepers may read and annotate but nothing else of the board;
//! the departments Tennis and Fußball (with Jugend and Senioren) have their own queues, and so
//! do the press office and the equipment manager (Materialwart).
//!
//! The main story is a donation offer (used equipment plus money) walking through the club,
//! split at the board so that the money part runs in parallel with the equipment part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use ticketcore::{
    Actor, Channel, Config, Desk, Error, Event, EventKind, Link, LinkKind, Lock, ManualClock,
    MemoryStore, Message, NewAttachment, NewTicket, Priority, SeededEntropy, StateType, Ticket,
    TicketId, TicketQuery,
};

const CLUB: &str = r#"
[[groups]]
name = "allgemein"
[[groups]]
name = "vorstand"
[[groups]]
name = "kasse"
[[groups]]
name = "tennis"
[[groups]]
name = "fussball"
[[groups]]
name = "presse"
[[groups]]
name = "material"

[[roles]]
name = "Vorstand"
groups = { vorstand = ["rw"], kasse = ["rw"], allgemein = ["rw"], presse = ["move_into"], material = ["move_into"], tennis = ["move_into"], fussball = ["move_into"] }

[[roles]]
name = "Buchhaltung"
groups = { kasse = ["ro", "note"] }

[[queues]]
name = "Allgemein"
group = "allgemein"
address = "info@sv-beispiel.de"
unlock_timeout = "8h"

[[queues]]
name = "Vorstand"
group = "vorstand"
address = "vorstand@sv-beispiel.de"

[[queues]]
name = "Vorstand::Schatzmeister"
group = "kasse"
address = "kasse@sv-beispiel.de"

[[queues]]
name = "Tennis"
group = "tennis"

[[queues]]
name = "Fußball"
group = "fussball"

[[queues]]
name = "Fußball::Jugend"
group = "fussball"

[[queues]]
name = "Fußball::Senioren"
group = "fussball"

[[queues]]
name = "Presse"
group = "presse"

[[queues]]
name = "Materialwart"
group = "material"

# The office: answers the inbox and hands things to whoever is responsible.
[[agents]]
login = "anna"
name = "Anna (Geschäftsstelle)"
email = "anna@sv-beispiel.de"
groups = { allgemein = ["rw"], material = ["move_into"], vorstand = ["move_into"], presse = ["move_into"], tennis = ["move_into"], fussball = ["move_into"] }

[[agents]]
login = "ben"
name = "Ben (Geschäftsstelle)"
groups = { allgemein = ["rw"], material = ["move_into"] }

[[agents]]
login = "max"
name = "Max (Materialwart)"
groups = { material = ["rw"], vorstand = ["move_into"], allgemein = ["move_into"] }

[[agents]]
login = "vera"
name = "Vera (Vorsitzende)"
roles = ["Vorstand"]

[[agents]]
login = "kai"
name = "Kai (Schatzmeister)"
groups = { kasse = ["rw"], presse = ["move_into"], vorstand = ["move_into"] }

[[agents]]
login = "bea"
name = "Bea (Buchhaltung)"
roles = ["Buchhaltung"]

[[agents]]
login = "paul"
name = "Paul (Presse)"
groups = { presse = ["rw"] }

[[agents]]
login = "tom"
name = "Tom (Fußball)"
groups = { fussball = ["rw"] }

[[agents]]
login = "admin"
admin = true
groups = { allgemein = ["rw"], vorstand = ["rw"], kasse = ["rw"], tennis = ["rw"], fussball = ["rw"], presse = ["rw"], material = ["rw"] }

[[customers]]
login = "mueller"
name = "Sporthaus Müller"
email = "info@sporthaus-mueller.de"
company = "Sporthaus Müller GmbH"
"#;

struct Club {
    desk: Desk,
    clock: ManualClock,
}

impl Club {
    async fn open() -> Club {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap());
        let desk = Desk::new(Arc::new(MemoryStore::new()))
            .with_clock(Arc::new(clock.clone()))
            .with_entropy(Arc::new(SeededEntropy::new(1904)));
        desk.configure(Config::from_toml(CLUB).expect("the club configuration is valid"))
            .await
            .expect("configured");
        Club { desk, clock }
    }

    /// Time passes between the steps of the story.
    fn later(&self, hours: i64) {
        self.clock.advance(Duration::hours(hours));
    }

    /// A ticket filed by the system (e.g. mail ingest) in `queue`.
    async fn filed(&self, queue: &str, title: &str) -> Ticket {
        let input = NewTicket::new(queue, title, Channel::Email, Message::text(title));
        self.desk
            .create_ticket(&Actor::System, input)
            .await
            .expect("created")
            .ticket
    }

    /// An internal note by `who`.
    async fn note(&self, who: &Actor, id: TicketId, text: &str) -> Ticket {
        self.desk
            .note(who, id, Message::text(text), false, &[])
            .await
            .expect("noted")
            .ticket
    }

    /// What happened to the ticket (who was told of it is checked on its own).
    async fn history(&self, id: TicketId) -> Vec<Event> {
        let mut history = self
            .desk
            .history(&Actor::System, id)
            .await
            .expect("history");
        history.retain(|e| !matches!(e.kind, EventKind::Notify { .. }));
        history
    }

    async fn view(&self, actor: &Actor) -> BTreeSet<TicketId> {
        let query = TicketQuery {
            limit: 1000,
            ..TicketQuery::default()
        };
        let page = self.desk.queue_view(actor, query).await.expect("view");
        page.tickets.iter().map(|t| t.id).collect()
    }
}

fn agent(login: &str) -> Actor {
    Actor::agent(login)
}

fn types(history: &[Event]) -> Vec<&'static str> {
    history.iter().map(|e| e.kind.history_type()).collect()
}

fn moves(history: &[Event]) -> Vec<(&str, &str)> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Move { from, to } => Some((from.as_str(), to.as_str())),
            _ => None,
        })
        .collect()
}

fn note_authors(history: &[Event]) -> Vec<String> {
    history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AddNote { .. }))
        .map(|e| e.actor.to_string())
        .collect()
}

fn is_locked_by(ticket: &Ticket, login: &str) -> bool {
    ticket.lock.holder() == Some(login)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_donation_walks_through_the_club_and_is_split_at_the_board() -> ticketcore::Result<()> {
    let club = Club::open().await;
    let desk = &club.desk;
    let (anna, max, vera, kai, bea, paul) = (
        agent("anna"),
        agent("max"),
        agent("vera"),
        agent("kai"),
        agent("bea"),
        agent("paul"),
    );
    let mueller = Actor::customer("mueller");

    // Sporthaus Müller offers used equipment and money through the web form.
    let inventory = b"20 Tennisschlaeger\n15 Fussbaelle\n2 Tornetze\n".to_vec();
    let mut offer = Message::text(
        "Wir räumen unser Lager: 20 gebrauchte Tennisschläger, 15 Fußbälle und zwei Tornetze \
         möchten wir dem Verein schenken, dazu 500 € für die Jugendabteilung.",
    );
    offer.attachments.push(NewAttachment {
        name: "inventar.txt".into(),
        content_type: "text/plain".into(),
        inline: false,
        data: inventory.clone(),
    });
    let donation = desk
        .create_ticket(
            &mueller,
            NewTicket::new(
                "Allgemein",
                "Sachspende: Schläger, Bälle, Netze und 500 €",
                Channel::Web,
                offer,
            ),
        )
        .await?
        .ticket;
    let id = donation.id;
    assert_eq!(donation.state_type, StateType::New);
    assert!(club.view(&anna).await.contains(&id));

    // Allgemein: the office takes it, notes it, hands it to the equipment manager.
    club.later(1);
    let t = desk.lock(&anna, id).await?.ticket;
    assert!(is_locked_by(&t, "anna"));
    desk.note(
        &anna,
        id,
        Message::text("Spendenangebot. Max, bitte Zustand prüfen."),
        false,
        &["max"],
    )
    .await?;
    let t = desk.move_ticket(&anna, id, "Materialwart").await?.ticket;
    assert_eq!(t.queue, "Materialwart");
    assert_eq!(
        t.lock,
        Lock::Unlocked,
        "anna cannot read Materialwart: her lock is released"
    );
    assert_eq!(t.state_type, StateType::Open, "the note opened it");
    assert!(!club.view(&anna).await.contains(&id));

    // Materialwart: checks the equipment, passes it to the board.
    club.later(20);
    assert!(club.view(&max).await.contains(&id));
    desk.lock(&max, id).await?;
    club.note(
        &max,
        id,
        "Schläger gut erhalten, 3 Bälle kaputt, Netze passen auf die Jugendtore. Annehmen!",
    )
    .await;
    let t = desk.move_ticket(&max, id, "Vorstand").await?.ticket;
    assert_eq!((t.queue.as_str(), t.lock.holder()), ("Vorstand", None));

    // Vorstand: accepts, and splits the money off to the treasurer so both run in parallel.
    club.later(24);
    desk.lock(&vera, id).await?;
    club.note(
        &vera,
        id,
        "Vorstand nimmt an. Geld geht an die Kasse, Material an die Jugend.",
    )
    .await;
    let first = desk.articles(&vera, id).await?[0].clone();
    assert_eq!(first.author, mueller);
    let money = desk
        .split(
            &vera,
            id,
            first.id,
            "Vorstand::Schatzmeister",
            Some("Geldspende 500 € Sporthaus Müller"),
        )
        .await?
        .ticket;
    let money_id = money.id;
    let equipment = desk.ticket(&vera, id).await?;

    // The links, from both sides: what the other ticket is to this one.
    assert_eq!(
        equipment.links,
        BTreeSet::from([Link {
            ticket: money_id,
            number: money.number.clone(),
            kind: LinkKind::Child,
        }])
    );
    assert_eq!(
        money.links,
        BTreeSet::from([Link {
            ticket: id,
            number: equipment.number.clone(),
            kind: LinkKind::Parent,
        }])
    );
    assert_ne!(money.number, equipment.number);
    assert_eq!(money.queue, "Vorstand::Schatzmeister");
    assert_eq!(money.title, "Geldspende 500 € Sporthaus Müller");
    assert_eq!(money.customer.as_deref(), Some("mueller"));
    assert_eq!(money.state_type, StateType::New);
    assert_eq!(equipment.queue, "Vorstand", "the source stays where it is");
    assert!(
        is_locked_by(&equipment, "vera"),
        "splitting keeps the source's lock"
    );
    // The split-off article is the offer, attachment included (stored once, readable here).
    let copied = desk.articles(&kai, money_id).await?;
    assert_eq!(copied.len(), 1);
    assert_eq!(copied[0].body, first.body);
    assert_eq!(copied[0].attachments, first.attachments);
    let hash = &copied[0].attachments[0].hash;
    assert_eq!(desk.attachment(&kai, money_id, hash).await?, inventory);

    // Equipment: the board passes it on to the treasurer (who values it for the receipt);
    // vera can read the treasurer's queue, so she keeps her lock until she releases it.
    club.later(1);
    let t = desk
        .move_ticket(&vera, id, "Vorstand::Schatzmeister")
        .await?
        .ticket;
    assert!(is_locked_by(&t, "vera"));
    assert!(matches!(
        desk.lock(&kai, id).await,
        Err(Error::Locked { ref by, .. }) if by == "vera"
    ));
    desk.unlock(&vera, id).await?;

    // Money, in parallel: the treasurer books it, bookkeeping annotates.
    desk.lock(&kai, money_id).await?;
    club.note(&kai, money_id, "500 € am 03.03. eingegangen.")
        .await;
    club.later(2);
    // Notes are allowed on a ticket somebody else holds.
    club.note(&bea, money_id, "Gebucht auf 8200 Spenden, Beleg 2026-041.")
        .await;

    // Equipment: the treasurer values it and passes it to the press office.
    desk.lock(&kai, id).await?;
    club.note(
        &kai,
        id,
        "Sachwert 1.150 €, Zuwendungsbestätigung über Sachspende ausgestellt.",
    )
    .await;
    let t = desk.move_ticket(&kai, id, "Presse").await?.ticket;
    assert_eq!((t.queue.as_str(), t.lock.holder()), ("Presse", None));

    // Money: thanked for and closed, while the equipment is still at the press office.
    club.later(3);
    desk.reply(
        &kai,
        money_id,
        Message::text("Herzlichen Dank! Die Zuwendungsbestätigung über 500 € liegt bei."),
    )
    .await?;
    let closed = desk
        .set_state(&kai, money_id, "closed successful", None)
        .await?
        .ticket;
    assert_eq!(closed.state_type, StateType::ClosedSuccessful);
    assert_eq!(closed.lock, Lock::Unlocked, "closing releases the lock");
    let still = desk.ticket(&paul, id).await?;
    assert_eq!(still.state_type, StateType::Open);
    assert_eq!(still.queue, "Presse");

    // Presse: a press release, a thank-you, done.
    club.later(48);
    desk.lock(&paul, id).await?;
    club.note(
        &paul,
        id,
        "Pressemitteilung \"Sporthaus Müller rüstet unsere Jugend aus\" erschienen.",
    )
    .await;
    desk.reply(
        &paul,
        id,
        Message::text("Vielen Dank! Hätten Sie Zeit für ein Foto bei der Übergabe?"),
    )
    .await?;
    let done = desk
        .set_state(&paul, id, "closed successful", None)
        .await?
        .ticket;
    assert_eq!(done.state, "closed successful");
    assert_eq!(done.lock, Lock::Unlocked);
    let money_after = desk.ticket(&kai, money_id).await?;
    assert_eq!(money_after, closed, "closing one did not touch the other");

    // The equipment's history: the walk, every step's note, and the ending.
    let history = club.history(id).await;
    assert_eq!(
        moves(&history),
        [
            ("Allgemein", "Materialwart"),
            ("Materialwart", "Vorstand"),
            ("Vorstand", "Vorstand::Schatzmeister"),
            ("Vorstand::Schatzmeister", "Presse"),
        ]
    );
    assert_eq!(
        note_authors(&history),
        [
            "agent:anna",
            "agent:max",
            "agent:vera",
            "agent:kai",
            "agent:paul"
        ]
    );
    let lockers: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Lock { by, .. } => Some(by.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(lockers, ["anna", "max", "vera", "kai", "paul"]);
    assert!(history.iter().any(|e| e.kind
        == EventKind::TicketLinkAdd {
            other: money.number.clone(),
            kind: LinkKind::Child,
        }));
    assert_eq!(
        types(&history[history.len() - 6..]),
        [
            "Lock",
            "OwnerUpdate",
            "AddNote",
            "SendAnswer",
            "StateUpdate",
            "Unlock"
        ]
    );
    assert!(matches!(
        &history[history.len() - 2].kind,
        EventKind::StateUpdate { from, to, .. } if from == "open" && to == "closed successful"
    ));

    // The money's history, complete.
    let history = club.history(money_id).await;
    assert_eq!(
        types(&history),
        [
            "NewTicket",
            "WebRequestCustomer",
            "OwnerUpdate",
            "TicketLinkAdd",
            "Lock",
            "OwnerUpdate",
            "AddNote",
            "StateUpdate",
            "AddNote",
            "SendAnswer",
            "StateUpdate",
            "Unlock",
        ]
    );
    assert_eq!(note_authors(&history), ["agent:kai", "agent:bea"]);
    assert!(moves(&history).is_empty());
    assert_eq!(
        history[3].kind,
        EventKind::TicketLinkAdd {
            other: equipment.number.clone(),
            kind: LinkKind::Parent,
        }
    );

    // The donor sees both tickets, and both answers, but none of the internal notes.
    assert_eq!(club.view(&mueller).await, BTreeSet::from([id, money_id]));
    for ticket in [id, money_id] {
        let articles = desk.articles(&mueller, ticket).await?;
        assert!(articles.iter().all(|a| a.visible_to_customer));
        assert_eq!(articles.len(), 2, "the offer and the answer");
    }
    Ok(())
}

#[tokio::test]
async fn buchhaltung_sees_the_treasurer_and_nothing_else_of_the_board() -> ticketcore::Result<()> {
    let club = Club::open().await;
    let desk = &club.desk;
    let bea = agent("bea");

    let board = club.filed("Vorstand", "Satzungsänderung").await;
    let kasse = club
        .filed("Vorstand::Schatzmeister", "Beitragsrückstand")
        .await;
    let inbox = club.filed("Allgemein", "Trainingszeiten").await;
    let youth = club.filed("Fußball::Jugend", "Turnier in Kiel").await;

    // The view: the treasurer's tickets only.
    assert_eq!(club.view(&bea).await, BTreeSet::from([kasse.id]));
    assert_eq!(desk.ticket(&bea, kasse.id).await?.id, kasse.id);
    desk.history(&bea, kasse.id).await?;
    desk.articles(&bea, kasse.id).await?;

    // The board's own queue does not exist for her.
    for id in [board.id, inbox.id, youth.id] {
        assert!(matches!(
            desk.ticket(&bea, id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            desk.history(&bea, id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            desk.articles(&bea, id).await,
            Err(Error::NotFound(_))
        ));
    }

    // In the treasurer's queue she reads and notes, but does not move, close, lock or reorder.
    match desk.move_ticket(&bea, kasse.id, "Vorstand").await {
        Err(Error::Denied { actor, queue, .. }) => {
            assert_eq!(actor, "agent:bea");
            assert_eq!(queue, "Vorstand::Schatzmeister");
        }
        other => panic!("move: {other:?}"),
    }
    assert!(matches!(
        desk.set_state(&bea, kasse.id, "closed successful", None)
            .await,
        Err(Error::Denied { .. })
    ));
    assert!(matches!(
        desk.lock(&bea, kasse.id).await,
        Err(Error::Denied { .. })
    ));
    assert!(matches!(
        desk.set_priority(&bea, kasse.id, Priority::HIGHEST).await,
        Err(Error::Denied { .. })
    ));
    assert!(matches!(
        desk.reply(&bea, kasse.id, Message::text("Bitte zahlen."))
            .await,
        Err(Error::Denied { .. })
    ));
    desk.note(
        &bea,
        kasse.id,
        Message::text("Mahnung vorbereitet."),
        false,
        &[],
    )
    .await?;

    // Nor can she change the board's ticket.
    for result in [
        desk.move_ticket(&bea, board.id, "Vorstand::Schatzmeister")
            .await,
        desk.set_state(&bea, board.id, "closed successful", None)
            .await,
    ] {
        assert!(
            matches!(result, Err(Error::Denied { .. } | Error::NotFound(_))),
            "{result:?}"
        );
    }
    assert_eq!(desk.ticket(&Actor::System, board.id).await?, board);

    // The board itself sees both of its queues (and the inbox), but not the departments.
    assert_eq!(
        club.view(&agent("vera")).await,
        BTreeSet::from([board.id, kasse.id, inbox.id])
    );
    // Sub-queues share their department's group.
    let senior = club.filed("Fußball::Senioren", "Altherren-Cup").await;
    let tennis = club.filed("Tennis", "Platzbelegung").await;
    let tom = club.view(&agent("tom")).await;
    assert_eq!(tom, BTreeSet::from([youth.id, senior.id]));
    assert!(!tom.contains(&tennis.id));
    Ok(())
}

#[tokio::test]
async fn a_locked_ticket_belongs_to_its_holder() -> ticketcore::Result<()> {
    let club = Club::open().await;
    let desk = &club.desk;
    let (anna, ben, admin) = (agent("anna"), agent("ben"), agent("admin"));

    let ticket = club.filed("Allgemein", "Hallenschlüssel verloren").await;
    let locked = desk.lock(&anna, ticket.id).await?.ticket;
    let Lock::Locked { by, since, until } = &locked.lock else {
        panic!("not locked: {:?}", locked.lock);
    };
    assert_eq!(by, "anna");
    assert_eq!(
        *until,
        Some(*since + Duration::hours(8)),
        "Allgemein's unlock timeout"
    );
    assert_eq!(locked.owner.as_deref(), Some("anna"));

    // Ben may do nothing to it but add a note.
    let refused = [
        (
            "move",
            desk.move_ticket(&ben, ticket.id, "Materialwart").await,
        ),
        (
            "reply",
            desk.reply(&ben, ticket.id, Message::text("Ersatz liegt bereit."))
                .await,
        ),
        (
            "state",
            desk.set_state(&ben, ticket.id, "closed successful", None)
                .await,
        ),
        (
            "priority",
            desk.set_priority(&ben, ticket.id, Priority::HIGHEST).await,
        ),
        ("lock", desk.lock(&ben, ticket.id).await),
        ("unlock", desk.unlock(&ben, ticket.id).await),
    ];
    for (what, result) in refused {
        match result {
            Err(Error::Locked { number, by }) => {
                assert_eq!(number, ticket.number, "{what}");
                assert_eq!(by, "anna", "{what}");
            }
            other => panic!("{what} by ben: {other:?}"),
        }
    }
    let err = desk.lock(&ben, ticket.id).await.expect_err("locked");
    assert_eq!(
        err.to_string(),
        format!("ticket {} is locked by anna", ticket.number)
    );
    desk.note(
        &ben,
        ticket.id,
        Message::text("Hausmeister weiß Bescheid."),
        false,
        &["anna"],
    )
    .await?;
    let unchanged = desk.ticket(&ben, ticket.id).await?;
    assert_eq!(unchanged.queue, "Allgemein");
    assert_eq!(unchanged.lock, locked.lock);

    // Anna is out sick: the admin releases her lock.
    let released = desk.unlock(&admin, ticket.id).await?;
    assert_eq!(released.ticket.lock, Lock::Unlocked);
    assert_eq!(released.events.len(), 1);
    assert_eq!(released.events[0].actor, admin);
    assert_eq!(
        released.events[0].kind,
        EventKind::Unlock { by: "anna".into() }
    );

    // Now Ben can take over, answer and hand it on; then he releases it himself.
    desk.lock(&ben, ticket.id).await?;
    desk.reply(
        &ben,
        ticket.id,
        Message::text("Ein Ersatzschlüssel liegt in der Geschäftsstelle."),
    )
    .await?;
    assert!(matches!(
        desk.unlock(&anna, ticket.id).await,
        Err(Error::Locked { ref by, .. }) if by == "ben"
    ));
    let t = desk.unlock(&ben, ticket.id).await?.ticket;
    assert_eq!(t.lock, Lock::Unlocked);
    let t = desk
        .move_ticket(&ben, ticket.id, "Materialwart")
        .await?
        .ticket;
    assert_eq!(t.queue, "Materialwart");

    let history = club.history(ticket.id).await;
    let lock_events: Vec<(String, &'static str)> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Lock { .. } | EventKind::Unlock { .. }))
        .map(|e| (e.actor.to_string(), e.kind.history_type()))
        .collect();
    assert_eq!(
        lock_events,
        [
            ("agent:anna".to_string(), "Lock"),
            ("agent:admin".to_string(), "Unlock"),
            ("agent:ben".to_string(), "Lock"),
            ("agent:ben".to_string(), "Unlock"),
        ]
    );
    Ok(())
}
