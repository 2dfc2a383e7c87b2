//! Seed story: a party's Landesverband (LV) with its Bezirksverbände (BV) and Kreisverbände
//! (KV). Every branch has its own queues and group; each branch's "Transfer" queue is a
//! transfer queue for everyone else: any branch may hand a ticket in (`move_into`) but not look
//! inside, while the receiving branch works on it (`rw`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use ticketcore::{
    Actor, Channel, Config, Desk, Error, EventKind, Lock, ManualClock, MemoryStore, Message,
    NewTicket, SeededEntropy, StateType, Ticket, TicketId, TicketQuery,
};

/// A branch of the party: its display name (the queue prefix), the group slug, the branch above
/// it, and the agent who works its queues.
struct Branch {
    name: &'static str,
    group: &'static str,
    parent: Option<&'static str>,
    agent: &'static str,
}

const BRANCHES: [Branch; 6] = [
    Branch {
        name: "LV",
        group: "lv",
        parent: None,
        agent: "lena",
    },
    Branch {
        name: "BV Nord",
        group: "bv-nord",
        parent: Some("LV"),
        agent: "bodo",
    },
    Branch {
        name: "BV Süd",
        group: "bv-sued",
        parent: Some("LV"),
        agent: "sina",
    },
    Branch {
        name: "KV Hamburg-Nord",
        group: "kv-hamburg-nord",
        parent: Some("BV Nord"),
        agent: "hanna",
    },
    Branch {
        name: "KV Altona",
        group: "kv-altona",
        parent: Some("BV Nord"),
        agent: "alex",
    },
    Branch {
        name: "KV Harburg",
        group: "kv-harburg",
        parent: Some("BV Süd"),
        agent: "harald",
    },
];

/// A volunteer of KV Altona: works the branch's own queues, holds no transfer rights at all.
const VOLUNTEER: &str = "gast";

/// The queues of a branch, each with the group that governs it.
fn branch_queues(b: &Branch) -> [(String, String); 4] {
    let transfer = format!("{}-transfer", b.group);
    [
        (b.name.to_string(), b.group.to_string()),
        (format!("{}::Presse", b.name), b.group.to_string()),
        (format!("{}::Vorstand", b.name), b.group.to_string()),
        (format!("{}::Transfer", b.name), transfer),
    ]
}

fn all_queues() -> Vec<String> {
    BRANCHES
        .iter()
        .flat_map(|b| branch_queues(b).map(|(q, _)| q))
        .collect()
}

/// The configuration, generated from the branch table.
fn config_toml() -> String {
    let mut t = String::new();
    for b in &BRANCHES {
        let above = b.parent.unwrap_or("-");
        t += &format!(
            "[[groups]]\nname = \"{g}\"\ncomment = \"{n} (unter {above})\"\n\n\
             [[groups]]\nname = \"{g}-transfer\"\n\n",
            g = b.group,
            n = b.name,
        );
    }
    for b in &BRANCHES {
        for (queue, group) in branch_queues(b) {
            t += &format!("[[queues]]\nname = \"{queue}\"\ngroup = \"{group}\"\n\n");
        }
    }
    for b in &BRANCHES {
        // rw on the own branch and its transfer queue, move_into on everyone else's transfer.
        let mut grants = vec![
            format!("\"{}\" = [\"rw\"]", b.group),
            format!("\"{}-transfer\" = [\"rw\"]", b.group),
        ];
        for other in BRANCHES.iter().filter(|o| o.group != b.group) {
            grants.push(format!("\"{}-transfer\" = [\"move_into\"]", other.group));
        }
        t += &format!(
            "[[agents]]\nlogin = \"{}\"\nname = \"{} ({})\"\ngroups = {{ {} }}\n\n",
            b.agent,
            b.agent,
            b.name,
            grants.join(", ")
        );
    }
    t += &format!(
        "[[agents]]\nlogin = \"{VOLUNTEER}\"\ngroups = {{ \"kv-altona\" = [\"rw\"] }}\n\n"
    );
    t
}

fn every_agent() -> Vec<&'static str> {
    BRANCHES
        .iter()
        .map(|b| b.agent)
        .chain([VOLUNTEER])
        .collect()
}

/// The queues `agent` may read, from the branch table (independent of the engine's ACL code).
fn readable_by(agent: &str) -> BTreeSet<String> {
    if agent == VOLUNTEER {
        return ["KV Altona", "KV Altona::Presse", "KV Altona::Vorstand"]
            .map(String::from)
            .into();
    }
    BRANCHES
        .iter()
        .filter(|b| b.agent == agent)
        .flat_map(|b| branch_queues(b).map(|(q, _)| q))
        .collect()
}

async fn party() -> Desk {
    let start = Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0).unwrap();
    let desk = Desk::new(Arc::new(MemoryStore::new()))
        .with_clock(Arc::new(ManualClock::new(start)))
        .with_entropy(Arc::new(SeededEntropy::new(1848)));
    let config = Config::from_toml(&config_toml()).expect("the party configuration is valid");
    desk.configure(config).await.expect("configured");
    desk
}

fn agent(login: &str) -> Actor {
    Actor::agent(login)
}

/// A request phoned in to `queue`, recorded by `by`.
async fn phoned(desk: &Desk, by: &str, queue: &str, title: &str) -> Ticket {
    let input = NewTicket::new(queue, title, Channel::Phone, Message::text(title));
    desk.create_ticket(&agent(by), input)
        .await
        .expect("created")
        .ticket
}

/// The agents who can see ticket `id`.
async fn who_sees(desk: &Desk, id: TicketId) -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::new();
    for login in every_agent() {
        match desk.ticket(&agent(login), id).await {
            Ok(_) => {
                seen.insert(login);
            }
            Err(Error::NotFound(_)) => {}
            Err(e) => panic!("{login}: {e}"),
        }
    }
    seen
}

/// Ids in `login`'s queue view (everything, one page).
async fn view(desk: &Desk, login: &str) -> Vec<TicketId> {
    let query = TicketQuery {
        limit: 1000,
        ..TicketQuery::default()
    };
    let page = desk.queue_view(&agent(login), query).await.expect("view");
    assert!(page.next.is_none());
    page.tickets.iter().map(|t| t.id).collect()
}

/// The moves in a ticket's history: (actor, from, to).
async fn moves(desk: &Desk, id: TicketId) -> Vec<(String, String, String)> {
    desk.history(&Actor::System, id)
        .await
        .expect("history")
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Move { from, to } => Some((e.actor.to_string(), from, to)),
            _ => None,
        })
        .collect()
}

fn mv(actor: &str, from: &str, to: &str) -> (String, String, String) {
    (format!("agent:{actor}"), from.into(), to.into())
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_configuration_is_what_the_branch_table_says() {
    let desk = party().await;
    let config = desk.config().await.unwrap();
    assert_eq!(config.queues.len(), BRANCHES.len() * 4);
    for b in &BRANCHES {
        let transfer = config
            .queue(&format!("{}::Transfer", b.name))
            .expect("transfer queue");
        assert_eq!(transfer.parent(), Some(b.name));
        assert_eq!(transfer.group, format!("{}-transfer", b.group));
    }
    for login in every_agent() {
        assert_eq!(
            ticketcore::acl::readable_queues(&config, login),
            readable_by(login),
            "{login}"
        );
    }
}

#[tokio::test]
async fn horizontal_transfer_from_kv_to_kv() -> ticketcore::Result<()> {
    let desk = party().await;
    let (alex, harald) = (agent("alex"), agent("harald"));

    // A citizen calls KV Altona about posters in Harburg.
    let ticket = phoned(
        &desk,
        "alex",
        "KV Altona::Presse",
        "Plakate an der Harburger Bahnhofstraße",
    )
    .await;
    assert!(view(&desk, "alex").await.contains(&ticket.id));
    desk.lock(&alex, ticket.id).await?;
    desk.note(
        &alex,
        ticket.id,
        Message::text("Betrifft Harburg, gebe ab."),
        false,
        &[],
    )
    .await?;

    let moved = desk
        .move_ticket(&alex, ticket.id, "KV Harburg::Transfer")
        .await?;
    assert_eq!(moved.ticket.queue, "KV Harburg::Transfer");
    // alex cannot see the Transfer queue, so his lock went with the move.
    assert_eq!(moved.ticket.lock, Lock::Unlocked);
    let kinds: Vec<_> = moved.events.iter().map(|e| e.kind.history_type()).collect();
    // The readers of the transfer queue are told of the ticket handed in.
    assert_eq!(kinds, ["Move", "Unlock", "SendAgentNotification"]);

    // Gone for the sender ...
    assert!(!view(&desk, "alex").await.contains(&ticket.id));
    assert!(matches!(
        desk.ticket(&alex, ticket.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        desk.history(&alex, ticket.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        desk.articles(&alex, ticket.id).await,
        Err(Error::NotFound(_))
    ));
    // ... there for the receiver, and for nobody else.
    assert_eq!(who_sees(&desk, ticket.id).await, BTreeSet::from(["harald"]));
    assert_eq!(view(&desk, "harald").await, [ticket.id]);

    // The receiving branch takes it into its own queue and works on it.
    desk.lock(&harald, ticket.id).await?;
    let taken = desk
        .move_ticket(&harald, ticket.id, "KV Harburg::Presse")
        .await?
        .ticket;
    assert_eq!(taken.queue, "KV Harburg::Presse");
    assert_eq!(
        taken.lock.holder(),
        Some("harald"),
        "a holder who can read the new queue keeps the lock"
    );
    desk.note(
        &harald,
        ticket.id,
        Message::text("Plakate hängen legal."),
        false,
        &[],
    )
    .await?;
    let articles = desk.articles(&harald, ticket.id).await?;
    assert_eq!(articles.len(), 3, "the history travels with the ticket");

    assert_eq!(
        moves(&desk, ticket.id).await,
        [
            mv("alex", "KV Altona::Presse", "KV Harburg::Transfer"),
            mv("harald", "KV Harburg::Transfer", "KV Harburg::Presse"),
        ]
    );
    assert_eq!(who_sees(&desk, ticket.id).await, BTreeSet::from(["harald"]));
    Ok(())
}

#[tokio::test]
async fn vertical_transfer_up_to_the_lv_and_down_again() -> ticketcore::Result<()> {
    let desk = party().await;
    let (hanna, bodo, lena) = (agent("hanna"), agent("bodo"), agent("lena"));

    let ticket = phoned(
        &desk,
        "hanna",
        "KV Hamburg-Nord::Vorstand",
        "Antrag zum Landesparteitag: Radwege",
    )
    .await;
    assert_eq!(who_sees(&desk, ticket.id).await, BTreeSet::from(["hanna"]));

    // Up: KV -> BV.
    desk.move_ticket(&hanna, ticket.id, "BV Nord::Transfer")
        .await?;
    assert_eq!(who_sees(&desk, ticket.id).await, BTreeSet::from(["bodo"]));
    assert!(view(&desk, "bodo").await.contains(&ticket.id));
    assert!(!view(&desk, "hanna").await.contains(&ticket.id));

    // Up: BV -> LV, straight from the BV's transfer queue.
    desk.note(
        &bodo,
        ticket.id,
        Message::text("BV unterstützt den Antrag."),
        false,
        &[],
    )
    .await?;
    desk.move_ticket(&bodo, ticket.id, "LV::Transfer").await?;
    assert_eq!(who_sees(&desk, ticket.id).await, BTreeSet::from(["lena"]));

    // The LV works on it, then sends it back down to the KV.
    desk.move_ticket(&lena, ticket.id, "LV::Vorstand").await?;
    desk.lock(&lena, ticket.id).await?;
    desk.note(
        &lena,
        ticket.id,
        Message::text("Angenommen; der KV möge die Umsetzung planen."),
        false,
        &[],
    )
    .await?;
    let down = desk
        .move_ticket(&lena, ticket.id, "KV Hamburg-Nord::Transfer")
        .await?
        .ticket;
    assert_eq!(down.lock, Lock::Unlocked);
    assert_eq!(who_sees(&desk, ticket.id).await, BTreeSet::from(["hanna"]));
    desk.move_ticket(&hanna, ticket.id, "KV Hamburg-Nord::Vorstand")
        .await?;
    let articles = desk.articles(&hanna, ticket.id).await?;
    assert_eq!(
        articles
            .iter()
            .map(|a| a.author.to_string())
            .collect::<Vec<_>>(),
        ["agent:hanna", "agent:bodo", "agent:lena"],
        "every level's notes are there when it comes back"
    );

    assert_eq!(
        moves(&desk, ticket.id).await,
        [
            mv("hanna", "KV Hamburg-Nord::Vorstand", "BV Nord::Transfer"),
            mv("bodo", "BV Nord::Transfer", "LV::Transfer"),
            mv("lena", "LV::Transfer", "LV::Vorstand"),
            mv("lena", "LV::Vorstand", "KV Hamburg-Nord::Transfer"),
            mv(
                "hanna",
                "KV Hamburg-Nord::Transfer",
                "KV Hamburg-Nord::Vorstand"
            ),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn moving_in_needs_move_into() -> ticketcore::Result<()> {
    let desk = party().await;
    let ticket = phoned(&desk, VOLUNTEER, "KV Altona::Presse", "Leserbrief").await;

    // The volunteer holds no transfer rights, not even on the own branch's transfer queue.
    for target in [
        "KV Harburg::Transfer",
        "LV::Transfer",
        "KV Altona::Transfer",
    ] {
        match desk.move_ticket(&agent(VOLUNTEER), ticket.id, target).await {
            Err(Error::Denied { actor, queue, .. }) => {
                assert_eq!(actor, "agent:gast");
                assert_eq!(queue, target);
            }
            other => panic!("moving into {target}: {other:?}"),
        }
    }

    // Branch agents may hand in only through the Transfer queues, never into working queues.
    let alex = agent("alex");
    for target in ["KV Harburg::Presse", "LV::Vorstand", "BV Nord", "LV"] {
        match desk.move_ticket(&alex, ticket.id, target).await {
            Err(Error::Denied { queue, .. }) => assert_eq!(queue, target),
            other => panic!("alex moving into {target}: {other:?}"),
        }
    }

    // Unknown queues are not found rather than denied.
    assert!(matches!(
        desk.move_ticket(&alex, ticket.id, "KV Wandsbek::Transfer")
            .await,
        Err(Error::NotFound(_))
    ));

    // Nothing happened to the ticket.
    let unchanged = desk.ticket(&alex, ticket.id).await?;
    assert_eq!(unchanged, ticket);
    assert!(moves(&desk, ticket.id).await.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_note_notifies_an_agent_of_another_branch() -> ticketcore::Result<()> {
    let desk = party().await;
    let alex = agent("alex");
    let ticket = phoned(&desk, "alex", "KV Altona::Vorstand", "Wahlkampfbudget").await;
    assert_eq!(ticket.state_type, StateType::New);
    let cursor = desk
        .events_since(&Actor::System, 0, usize::MAX)
        .await?
        .events
        .last()
        .map_or(0, |e| e.seq);

    let noted = desk
        .note(
            &alex,
            ticket.id,
            Message::text("Bodo, der BV muss das Budget freigeben."),
            false,
            &["bodo"],
        )
        .await?
        .ticket;
    assert_eq!(noted.state, "open");
    assert_eq!(noted.state_type, StateType::Open);

    // What a notification worker following the log sees.
    let events = desk.events_since(&Actor::System, cursor, 100).await?.events;
    assert!(
        events
            .iter()
            .all(|e| e.seq > cursor && e.ticket == ticket.id)
    );
    let notes: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AddNote {
                notify,
                visible_to_customer,
                ..
            } => Some((e.actor.clone(), notify.clone(), *visible_to_customer)),
            _ => None,
        })
        .collect();
    assert_eq!(notes, [(alex.clone(), vec!["bodo".to_string()], false)]);
    // The note names bodo, but bodo (of another branch) may not read KV Altona's board
    // queue: a notification would tell him of a ticket he may not see, so nobody is told.
    // (Board members of the branch itself are: see `board_members_named_in_a_note_are_told`.)
    let notices: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Notify {
                reason: ticketcore::notify::Reason::Note,
                agents,
                article,
            } => Some((agents.clone(), article.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(notices, []);
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::StateUpdate { from, to, state_type: StateType::Open } if from == "new" && to == "open"
    )));

    // Notifying somebody who does not exist is refused, and appends nothing.
    let last = events.last().map_or(cursor, |e| e.seq);
    assert!(matches!(
        desk.note(
            &alex,
            ticket.id,
            Message::text("?"),
            false,
            &["bodo", "nobody"]
        )
        .await,
        Err(Error::NotFound(_))
    ));
    assert!(
        desk.events_since(&Actor::System, last, 100)
            .await?
            .events
            .is_empty()
    );

    // bodo is told; to act, he gets the ticket handed in through his transfer queue.
    desk.move_ticket(&alex, ticket.id, "BV Nord::Transfer")
        .await?;
    desk.note(
        &agent("bodo"),
        ticket.id,
        Message::text("Freigegeben."),
        false,
        &["alex"],
    )
    .await?;
    assert_eq!(
        moves(&desk, ticket.id).await,
        [mv("alex", "KV Altona::Vorstand", "BV Nord::Transfer")]
    );
    Ok(())
}

#[tokio::test]
async fn queue_views_show_only_readable_queues() -> ticketcore::Result<()> {
    let desk = party().await;
    let mut tickets: Vec<Ticket> = Vec::new();
    for queue in all_queues() {
        let input = NewTicket::new(&queue, &queue, Channel::Email, Message::text("Hallo"));
        tickets.push(desk.create_ticket(&Actor::System, input).await?.ticket);
    }

    for login in every_agent() {
        let readable = readable_by(login);
        let expected: BTreeSet<TicketId> = tickets
            .iter()
            .filter(|t| readable.contains(&t.queue))
            .map(|t| t.id)
            .collect();
        let seen: BTreeSet<TicketId> = view(&desk, login).await.into_iter().collect();
        assert_eq!(seen, expected, "{login}'s view");

        // Page by page gives the same, without duplicates.
        let mut paged = Vec::new();
        let mut query = TicketQuery {
            limit: 2,
            ..TicketQuery::default()
        };
        loop {
            let page = desk.queue_view(&agent(login), query.clone()).await?;
            paged.extend(page.tickets.iter().map(|t| t.id));
            match page.next {
                Some(after) => query.after = Some(after),
                None => break,
            }
        }
        assert_eq!(paged.len(), expected.len(), "{login}: no duplicates");
        assert_eq!(paged.into_iter().collect::<BTreeSet<_>>(), expected);

        // Asking for someone else's queue gives nothing rather than their tickets.
        let foreign: BTreeSet<String> = all_queues()
            .into_iter()
            .filter(|q| !readable.contains(q))
            .collect();
        let query = TicketQuery {
            queues: Some(foreign),
            limit: 1000,
            ..TicketQuery::default()
        };
        let page = desk.queue_view(&agent(login), query).await?;
        assert!(page.tickets.is_empty(), "{login} sees foreign tickets");

        // Single reads agree with the view.
        for t in &tickets {
            let read = desk.ticket(&agent(login), t.id).await;
            assert_eq!(
                read.is_ok(),
                expected.contains(&t.id),
                "{login} reading {}",
                t.queue
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_transferred_ticket_cannot_be_probed_by_the_sender() -> ticketcore::Result<()> {
    // Once handed into another branch's transfer queue the ticket is invisible to the sender:
    // `ticket()` says NotFound. Every other operation must say the same, or the sender can
    // still learn that the ticket exists and, from the error, in which queue it now is.
    let desk = party().await;
    let alex = agent("alex");
    let ticket = phoned(&desk, "alex", "KV Altona::Presse", "Interna").await;
    desk.move_ticket(&alex, ticket.id, "KV Harburg::Transfer")
        .await?;
    desk.move_ticket(&agent("harald"), ticket.id, "KV Harburg::Vorstand")
        .await?;

    let attempts = [
        (
            "move",
            desk.move_ticket(&alex, ticket.id, "KV Altona::Presse")
                .await,
        ),
        ("lock", desk.lock(&alex, ticket.id).await),
        (
            "note",
            desk.note(&alex, ticket.id, Message::text("?"), false, &[])
                .await,
        ),
        (
            "state",
            desk.set_state(&alex, ticket.id, "closed successful", None)
                .await,
        ),
        (
            "reply",
            desk.reply(&alex, ticket.id, Message::text("?")).await,
        ),
    ];
    let leaks: Vec<String> = attempts
        .into_iter()
        .filter_map(|(what, result)| match result {
            Err(Error::NotFound(message)) if !message.contains("Harburg") => None,
            other => Some(format!("{what}: {other:?}")),
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "operations on an invisible ticket must say NotFound:\n{}",
        leaks.join("\n")
    );
    let now = desk.ticket(&agent("harald"), ticket.id).await?;
    assert_eq!(now.queue, "KV Harburg::Vorstand");
    Ok(())
}

#[tokio::test]
async fn board_members_named_in_a_note_are_told() -> ticketcore::Result<()> {
    let desk = party().await;
    let alex = agent("alex");
    let ticket = phoned(
        &desk,
        "alex",
        "KV Altona::Vorstand",
        "Mitgliederversammlung",
    )
    .await;
    let noted = desk
        .note(
            &alex,
            ticket.id,
            Message::text("Bitte bis Freitag die Einladung prüfen."),
            false,
            &[VOLUNTEER],
        )
        .await?;
    let notices: Vec<_> = noted
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Notify {
                reason: ticketcore::notify::Reason::Note,
                agents,
                article,
            } => Some((agents.clone(), *article)),
            _ => None,
        })
        .collect();
    let note = noted.events.iter().find_map(|e| match &e.kind {
        EventKind::AddNote { article, .. } => Some(*article),
        _ => None,
    });
    // The board member named is told, with the note to mail; alex, who wrote it, is not.
    assert_eq!(notices, [(vec![VOLUNTEER.to_string()], note)]);
    Ok(())
}
