//! Who hears of what: `ticketcore::notify::recipients`, rule by rule, as its doc comment states
//! them, plus the two promises every rule shares: the acting agent is never told of their own
//! deed, and nobody who cannot act (invalid agents) or cannot see the ticket is told anything.
//!
//! Most tests build tickets and events by hand (the function is pure); one walks a ticket
//! through a Desk to show how an unreadable owner arises in practice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ticketcore::notify::recipients;
use ticketcore::{
    Actor, ArticleId, Channel, Config, DeadlineKind, Desk, Escalation, Event, EventKind, Lock,
    ManualClock, MemoryStore, Message, NewTicket, Priority, SeededEntropy, StateType, Ticket,
    TicketId, TicketNumber,
};
use uuid::Uuid;

/// Sales ("Vertrieb") and engineering ("Technik"):
/// - anna: rw on sales, may hand tickets to engineering (move_into, no ro)
/// - bert: reads sales (ro only)
/// - carl: rw on engineering
/// - dora: reads and notes engineering through the role "technik-team"
/// - ede: may create, note and hand in to sales, but not read it
/// - fritz: rw on sales, but no longer valid
/// - gabi: rw on both
const CONFIG: &str = r#"
[[groups]]
name = "vertrieb"
[[groups]]
name = "technik"

[[roles]]
name = "technik-team"
groups = { technik = ["ro", "note"] }

[[queues]]
name = "Vertrieb"
group = "vertrieb"
solution = "8h"

[[queues]]
name = "Technik"
group = "technik"
solution = "1h"

[[agents]]
login = "anna"
groups = { vertrieb = ["rw"], technik = ["move_into"] }

[[agents]]
login = "bert"
groups = { vertrieb = ["ro"] }

[[agents]]
login = "carl"
groups = { technik = ["rw"] }

[[agents]]
login = "dora"
roles = ["technik-team"]

[[agents]]
login = "ede"
groups = { vertrieb = ["move_into", "create", "note"] }

[[agents]]
login = "fritz"
groups = { vertrieb = ["rw"] }
valid = false

[[agents]]
login = "gabi"
groups = { vertrieb = ["rw"], technik = ["rw"] }
"#;

const AGENTS: [&str; 7] = ["anna", "bert", "carl", "dora", "ede", "fritz", "gabi"];

fn config() -> Config {
    Config::from_toml(CONFIG).expect("valid configuration")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
}

fn set(logins: &[&str]) -> BTreeSet<String> {
    logins.iter().map(|s| s.to_string()).collect()
}

fn sales_readers() -> BTreeSet<String> {
    set(&["anna", "bert", "gabi"])
}

fn engineering_readers() -> BTreeSet<String> {
    set(&["carl", "dora", "gabi"])
}

/// An unlocked, unowned, open ticket of customer "kunde" in `queue`.
fn ticket(queue: &str) -> Ticket {
    Ticket {
        id: TicketId(Uuid::from_u128(1)),
        number: TicketNumber::from_stored("1000001"),
        title: "Angebot".into(),
        queue: queue.into(),
        state: "open".into(),
        state_type: StateType::Open,
        priority: Priority::NORMAL,
        lock: Lock::Unlocked,
        owner: None,
        responsible: None,
        customer: Some("kunde".into()),
        customer_company: None,
        pending_until: None,
        reminded: false,
        escalation: Escalation::default(),
        archived: false,
        merged_into: None,
        links: BTreeSet::new(),
        watchers: BTreeSet::new(),
        set_aside: BTreeSet::new(),
        created: now(),
        changed: now(),
        version: 3,
    }
}

fn locked_by(mut t: Ticket, login: &str) -> Ticket {
    t.lock = Lock::Locked {
        by: login.into(),
        since: now(),
        until: None,
    };
    t.owner = Some(login.into());
    t
}

fn event(t: &Ticket, actor: Actor, kind: EventKind) -> Event {
    Event {
        seq: 7,
        ticket: t.id,
        number: t.number.clone(),
        at: now(),
        actor,
        visible_in: t.queue.clone(),
        kind,
    }
}

fn article() -> ArticleId {
    ArticleId(Uuid::from_u128(42))
}

fn new_ticket(queue: &str) -> EventKind {
    EventKind::NewTicket {
        queue: queue.into(),
        state: "new".into(),
        priority: Priority::NORMAL,
        customer: Some("kunde".into()),
    }
}

fn follow_up() -> EventKind {
    EventKind::FollowUp {
        article: article(),
        channel: Channel::Email,
        unknown_sender: false,
    }
}

fn note(notify: &[&str], visible_to_customer: bool) -> EventKind {
    EventKind::AddNote {
        article: article(),
        notify: notify.iter().map(|s| s.to_string()).collect(),
        visible_to_customer,
    }
}

/// The three "remind the people in charge" kinds.
fn reminders() -> [EventKind; 3] {
    [
        EventKind::Reminder {
            owner: Some("anna".into()),
        },
        EventKind::EscalationWarning {
            deadline: DeadlineKind::Solution,
            due: now() + Duration::hours(1),
        },
        EventKind::Escalation {
            deadline: DeadlineKind::Solution,
            due: now(),
        },
    ]
}

/// Events no rule sends to anyone but watchers.
fn bookkeeping() -> Vec<EventKind> {
    vec![
        EventKind::Lock {
            by: "anna".into(),
            until: None,
        },
        EventKind::Unlock { by: "anna".into() },
        EventKind::StateUpdate {
            from: "new".into(),
            to: "open".into(),
            state_type: StateType::Open,
        },
        EventKind::PriorityUpdate {
            from: Priority::NORMAL,
            to: Priority::HIGHEST,
        },
        EventKind::OwnerUpdate {
            from: None,
            to: Some("anna".into()),
        },
        EventKind::SendAnswer {
            article: article(),
            to: "kunde@example.org".into(),
            faq: None,
        },
        EventKind::TitleUpdate {
            from: "Angebot".into(),
            to: "Angebot 2026".into(),
        },
        EventKind::SetPendingTime { until: Some(now()) },
        EventKind::WebRequestCustomer { article: article() },
    ]
}

/// Every kind of event the rules below talk about.
fn every_kind() -> Vec<EventKind> {
    let mut all = vec![
        new_ticket("Vertrieb"),
        EventKind::Move {
            from: "Technik".into(),
            to: "Vertrieb".into(),
        },
        follow_up(),
        EventKind::FollowUpRejected { article: article() },
        note(&AGENTS, false),
        note(&AGENTS, true),
    ];
    all.extend(reminders());
    all.extend(bookkeeping());
    all
}

// ---------------------------------------------------------------------------------------------

#[test]
fn the_configuration_gives_the_readers_the_tests_assume() {
    let config = config();
    for login in AGENTS {
        let readable = ticketcore::acl::readable_queues(&config, login);
        assert_eq!(
            readable.contains("Vertrieb"),
            sales_readers().contains(login),
            "{login} on Vertrieb"
        );
        assert_eq!(
            readable.contains("Technik"),
            engineering_readers().contains(login),
            "{login} on Technik"
        );
    }
}

#[test]
fn a_new_ticket_goes_to_every_valid_reader_of_its_queue() {
    let config = config();
    let sales = ticket("Vertrieb");
    let e = event(&sales, Actor::customer("kunde"), new_ticket("Vertrieb"));
    assert_eq!(recipients(&config, &sales, &e), sales_readers());
    let e = event(&sales, Actor::System, new_ticket("Vertrieb"));
    assert_eq!(recipients(&config, &sales, &e), sales_readers());
    // Created by an agent (a phone call): everybody else.
    let e = event(&sales, Actor::agent("anna"), new_ticket("Vertrieb"));
    assert_eq!(recipients(&config, &sales, &e), set(&["bert", "gabi"]));
    // ede may create tickets in sales but not read them: he is no reader, nothing to remove.
    let e = event(&sales, Actor::agent("ede"), new_ticket("Vertrieb"));
    assert_eq!(recipients(&config, &sales, &e), sales_readers());

    // Readers through a role count as well.
    let engineering = ticket("Technik");
    let e = event(
        &engineering,
        Actor::customer("kunde"),
        new_ticket("Technik"),
    );
    assert_eq!(recipients(&config, &engineering, &e), engineering_readers());
}

#[test]
fn a_move_goes_to_the_readers_of_the_new_queue() {
    let config = config();
    // The ticket as it is after the move.
    let moved = ticket("Technik");
    let kind = EventKind::Move {
        from: "Vertrieb".into(),
        to: "Technik".into(),
    };
    let e = event(&moved, Actor::agent("anna"), kind.clone());
    assert_eq!(recipients(&config, &moved, &e), engineering_readers());
    let e = event(&moved, Actor::agent("gabi"), kind);
    assert_eq!(recipients(&config, &moved, &e), set(&["carl", "dora"]));

    let back = ticket("Vertrieb");
    let e = event(
        &back,
        Actor::agent("carl"),
        EventKind::Move {
            from: "Technik".into(),
            to: "Vertrieb".into(),
        },
    );
    assert_eq!(recipients(&config, &back, &e), sales_readers());
}

#[test]
fn a_follow_up_goes_to_the_lock_holder_if_locked_else_to_the_readers() {
    let config = config();
    for kind in [
        follow_up(),
        EventKind::FollowUpRejected { article: article() },
    ] {
        let open = ticket("Vertrieb");
        let e = event(&open, Actor::customer("kunde"), kind.clone());
        assert_eq!(recipients(&config, &open, &e), sales_readers(), "{kind:?}");

        let held = locked_by(ticket("Vertrieb"), "gabi");
        let e = event(&held, Actor::customer("kunde"), kind.clone());
        assert_eq!(recipients(&config, &held, &e), set(&["gabi"]), "{kind:?}");
        // Mail ingest records it as the system: the same people.
        let e = event(&held, Actor::System, kind.clone());
        assert_eq!(recipients(&config, &held, &e), set(&["gabi"]), "{kind:?}");
        // An agent typing in the customer's call for the holder: the holder still hears.
        let e = event(&held, Actor::agent("anna"), kind.clone());
        assert_eq!(recipients(&config, &held, &e), set(&["gabi"]), "{kind:?}");
        // The holder typing it in themselves: nobody.
        let e = event(&held, Actor::agent("gabi"), kind.clone());
        assert_eq!(recipients(&config, &held, &e), set(&[]), "{kind:?}");
    }
}

#[test]
fn a_note_goes_to_the_agents_named_in_it() {
    let config = config();
    let t = ticket("Vertrieb");
    for visible in [false, true] {
        let e = event(&t, Actor::agent("anna"), note(&["bert", "gabi"], visible));
        assert_eq!(recipients(&config, &t, &e), set(&["bert", "gabi"]));
        // Naming nobody tells nobody (not the readers).
        let e = event(&t, Actor::agent("anna"), note(&[], visible));
        assert_eq!(recipients(&config, &t, &e), set(&[]));
        // Naming oneself tells nobody.
        let e = event(&t, Actor::agent("anna"), note(&["anna"], visible));
        assert_eq!(recipients(&config, &t, &e), set(&[]));
        let e = event(&t, Actor::agent("anna"), note(&["anna", "bert"], visible));
        assert_eq!(recipients(&config, &t, &e), set(&["bert"]));
    }
    // A locked ticket changes nothing for notes: the named agents hear, not the holder.
    let held = locked_by(ticket("Vertrieb"), "gabi");
    let e = event(&held, Actor::agent("anna"), note(&["bert"], false));
    assert_eq!(recipients(&config, &held, &e), set(&["bert"]));
}

#[test]
fn reminders_and_escalations_go_to_owner_and_responsible_else_to_the_readers() {
    let config = config();
    for kind in reminders() {
        let mut t = ticket("Vertrieb");
        t.owner = Some("anna".into());
        t.responsible = Some("gabi".into());
        let e = event(&t, Actor::System, kind.clone());
        assert_eq!(
            recipients(&config, &t, &e),
            set(&["anna", "gabi"]),
            "{kind:?}"
        );

        t.responsible = None;
        let e = event(&t, Actor::System, kind.clone());
        assert_eq!(recipients(&config, &t, &e), set(&["anna"]), "{kind:?}");

        t.owner = None;
        t.responsible = Some("gabi".into());
        let e = event(&t, Actor::System, kind.clone());
        assert_eq!(recipients(&config, &t, &e), set(&["gabi"]), "{kind:?}");

        t.owner = Some("gabi".into());
        let e = event(&t, Actor::System, kind.clone());
        assert_eq!(recipients(&config, &t, &e), set(&["gabi"]), "{kind:?}");

        t.owner = None;
        t.responsible = None;
        let e = event(&t, Actor::System, kind.clone());
        assert_eq!(recipients(&config, &t, &e), sales_readers(), "{kind:?}");

        let t = ticket("Technik");
        let e = event(&t, Actor::System, kind.clone());
        assert_eq!(
            recipients(&config, &t, &e),
            engineering_readers(),
            "{kind:?}"
        );
    }
}

#[test]
fn other_events_go_to_nobody_but_watchers() {
    let config = config();
    let mut t = locked_by(ticket("Vertrieb"), "anna");
    t.responsible = Some("gabi".into());
    for kind in bookkeeping() {
        for actor in [
            Actor::System,
            Actor::customer("kunde"),
            Actor::agent("bert"),
        ] {
            let timeout = actor == Actor::System && matches!(kind, EventKind::Unlock { .. });
            let e = event(&t, actor.clone(), kind.clone());
            let expected = if timeout { set(&["anna"]) } else { set(&[]) };
            assert_eq!(recipients(&config, &t, &e), expected, "{kind:?} by {actor}");
        }
    }
}

#[test]
fn a_lock_released_by_its_timeout_goes_to_its_former_holder_if_they_still_read() {
    let config = config();
    let t = ticket("Vertrieb");
    let timeout = |by: &str| event(&t, Actor::System, EventKind::Unlock { by: by.into() });
    assert_eq!(recipients(&config, &t, &timeout("anna")), set(&["anna"]));
    // Released by an admin or the holder: nobody is told.
    let by_hand = event(
        &t,
        Actor::agent("gabi"),
        EventKind::Unlock { by: "anna".into() },
    );
    assert_eq!(recipients(&config, &t, &by_hand), set(&[]));
    // carl cannot read sales (any more): not told.
    assert_eq!(recipients(&config, &t, &timeout("carl")), set(&[]));
}

#[test]
fn watchers_hear_of_everything() {
    let config = config();
    let mut t = locked_by(ticket("Vertrieb"), "anna");
    t.watchers = set(&["bert", "gabi"]);
    for kind in every_kind() {
        let e = event(&t, Actor::customer("kunde"), kind.clone());
        let to = recipients(&config, &t, &e);
        assert!(to.is_superset(&set(&["bert", "gabi"])), "{kind:?}: {to:?}");
    }
    for kind in bookkeeping() {
        let e = event(&t, Actor::System, kind.clone());
        let expected = match kind {
            EventKind::Unlock { .. } => set(&["anna", "bert", "gabi"]),
            _ => set(&["bert", "gabi"]),
        };
        assert_eq!(recipients(&config, &t, &e), expected, "{kind:?}");
    }
    // On top of the rule's own recipients.
    let e = event(&t, Actor::customer("kunde"), follow_up());
    assert_eq!(recipients(&config, &t, &e), set(&["anna", "bert", "gabi"]));
    let e = event(&t, Actor::agent("anna"), note(&[], false));
    assert_eq!(recipients(&config, &t, &e), set(&["bert", "gabi"]));
}

#[test]
fn the_acting_agent_is_never_notified() {
    let config = config();
    // Everybody is in every role: holder, owner, responsible, watcher, named in the note.
    let mut t = locked_by(ticket("Vertrieb"), "anna");
    t.responsible = Some("gabi".into());
    t.watchers = set(&AGENTS);
    let mut unlocked = ticket("Vertrieb");
    unlocked.watchers = set(&AGENTS);
    for t in [&t, &unlocked] {
        for kind in every_kind() {
            for login in AGENTS {
                let e = event(t, Actor::agent(login), kind.clone());
                let to = recipients(&config, t, &e);
                assert!(!to.contains(login), "{login} told of own {kind:?}: {to:?}");
            }
            // Customers and the system are never recipients, and never removed from anything.
            let by_customer =
                recipients(&config, t, &event(t, Actor::customer("anna"), kind.clone()));
            let by_system = recipients(&config, t, &event(t, Actor::System, kind.clone()));
            assert_eq!(by_customer, by_system, "{kind:?}");
        }
    }
}

#[test]
fn invalid_agents_are_never_readers() {
    let config = config();
    // fritz holds rw on sales but is invalid: none of the "readers" rules reaches him.
    let t = ticket("Vertrieb");
    for kind in [
        new_ticket("Vertrieb"),
        EventKind::Move {
            from: "Technik".into(),
            to: "Vertrieb".into(),
        },
        follow_up(),
        EventKind::FollowUpRejected { article: article() },
    ]
    .into_iter()
    .chain(reminders())
    {
        let e = event(&t, Actor::customer("kunde"), kind.clone());
        let to = recipients(&config, &t, &e);
        assert!(!to.contains("fritz"), "{kind:?}: {to:?}");
        assert_eq!(to, sales_readers(), "{kind:?}");
    }
}

/// Every way an agent can be named on a ticket (watcher, named in a note, owner, responsible,
/// lock holder) must still not reach an invalid agent: a deactivated agent's mailbox may be
/// read by someone else, and they can no longer act on what they hear. Where the invalid agent
/// was the only one in charge, the queue's readers stand in for them.
#[test]
fn invalid_agents_are_never_notified() {
    let config = config();
    let mut wrong = Vec::new();
    let mut check = |what: &str, t: &Ticket, kind: EventKind, expected: BTreeSet<String>| {
        let e = event(t, Actor::customer("kunde"), kind);
        let to = recipients(&config, t, &e);
        if to != expected {
            wrong.push(format!("{what}: got {to:?}, expected {expected:?}"));
        }
    };

    let mut watched = ticket("Vertrieb");
    watched.watchers = set(&["fritz", "bert"]);
    check(
        "an invalid watcher",
        &watched,
        EventKind::Unlock { by: "anna".into() },
        set(&["bert"]),
    );
    check(
        "a note naming an invalid agent",
        &ticket("Vertrieb"),
        note(&["fritz", "bert"], false),
        set(&["bert"]),
    );
    for kind in reminders() {
        let mut owned = ticket("Vertrieb");
        owned.owner = Some("fritz".into());
        check(
            &format!("{} for an invalid owner", kind.history_type()),
            &owned,
            kind.clone(),
            sales_readers(),
        );
        owned.responsible = Some("gabi".into());
        check(
            &format!(
                "{} for an invalid owner and a valid responsible",
                kind.history_type()
            ),
            &owned,
            kind,
            set(&["gabi"]),
        );
    }
    // fritz locked it before he left; the lock has not expired yet.
    let held = locked_by(ticket("Vertrieb"), "fritz");
    check(
        "a follow-up to a ticket an invalid agent holds",
        &held,
        follow_up(),
        sales_readers(),
    );
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// Nobody hears of a ticket they may not read: a notification carries the ticket's content
/// (a note's text, the customer's follow-up), which is exactly what the queue's group
/// permissions keep from them. Watchers lose sight of a ticket moved into a queue they cannot
/// read; a note may name any configured agent.
#[test]
fn agents_who_may_not_read_the_ticket_are_never_notified() {
    let config = config();
    let mut wrong = Vec::new();
    let mut check = |what: &str, t: &Ticket, kind: EventKind, expected: BTreeSet<String>| {
        let e = event(t, Actor::customer("kunde"), kind);
        let to = recipients(&config, t, &e);
        if to != expected {
            wrong.push(format!("{what}: got {to:?}, expected {expected:?}"));
        }
    };

    // bert watched it in sales; it moved to engineering, which he cannot read.
    let mut moved = ticket("Technik");
    moved.watchers = set(&["bert", "dora"]);
    check(
        "a watcher who cannot read the queue",
        &moved,
        follow_up(),
        engineering_readers(),
    );
    check(
        "a watcher who cannot read the queue (move)",
        &moved,
        EventKind::Move {
            from: "Vertrieb".into(),
            to: "Technik".into(),
        },
        engineering_readers(),
    );
    // ede may add notes to sales but not read it; carl is in engineering only.
    check(
        "a note naming agents who cannot read the queue",
        &ticket("Vertrieb"),
        note(&["ede", "carl", "bert"], false),
        set(&["bert"]),
    );
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// The practical case: anna owns a sales ticket and hands it to engineering (she may move it
/// in, not read it). Her lock goes with the move, her ownership stays. When the ticket then
/// escalates in engineering, engineering must hear of it, not anna, who cannot even open it.
#[tokio::test]
async fn an_escalation_after_a_hand_over_goes_to_the_new_queue_not_the_old_owner()
-> ticketcore::Result<()> {
    let clock = ManualClock::new(now());
    let desk = Desk::new(Arc::new(MemoryStore::new()))
        .with_clock(Arc::new(clock.clone()))
        .with_entropy(Arc::new(SeededEntropy::new(7)));
    desk.configure(config()).await?;
    let anna = Actor::agent("anna");
    let t = desk
        .create_ticket(
            &Actor::customer("kunde"),
            NewTicket::new(
                "Vertrieb",
                "Maschine defekt",
                Channel::Web,
                Message::text("Die Maschine steht."),
            ),
        )
        .await?
        .ticket;
    desk.lock(&anna, t.id).await?;
    let moved = desk.move_ticket(&anna, t.id, "Technik").await?.ticket;
    assert_eq!(moved.lock, Lock::Unlocked);
    assert_eq!(moved.owner.as_deref(), Some("anna"));
    let due = moved.escalation.due().expect("engineering's solution time");

    clock.set(due);
    let report = desk.tick(due).await?;
    assert_eq!(report.escalations, 1);
    let escalated = desk.ticket(&Actor::System, t.id).await?;
    let events = desk.events_since(&Actor::System, 0, 1000).await?.events;
    let breach = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Escalation { .. }))
        .expect("escalation event");
    let config = desk.config().await?;
    let to = recipients(&config, &escalated, breach);
    assert!(
        !to.contains("anna"),
        "anna cannot read Technik but is told of its escalation: {to:?}"
    );
    assert_eq!(to, engineering_readers());
    Ok(())
}

#[test]
fn preferences_choose_kinds_and_my_queues_but_not_what_is_personal() {
    use ticketcore::notify::{Reason, notifications};
    let toml = CONFIG
        .replace(
            "login = \"bert\"\n",
            "login = \"bert\"\nnotifications = { kinds = [\"note\", \"lock_timeout\"] }\n",
        )
        .replace(
            "login = \"gabi\"\n",
            "login = \"gabi\"\nnotifications = { queues = [\"Technik\"] }\n",
        );
    let config = Config::from_toml(&toml).unwrap();
    // A new sales ticket: bert declines new tickets, gabi's queues are engineering's.
    let t = ticket("Vertrieb");
    let e = event(&t, Actor::customer("kunde"), new_ticket("Vertrieb"));
    assert_eq!(
        notifications(&config, &t, &e),
        (Reason::NewTicket, vec!["anna".into()])
    );
    let t = ticket("Technik");
    let e = event(&t, Actor::customer("kunde"), new_ticket("Technik"));
    let (_, to) = notifications(&config, &t, &e);
    assert!(to.contains(&"gabi".to_string()), "{to:?}");
    // Named in a note, gabi hears of sales too: what concerns her is not narrowed by queue.
    let t = ticket("Vertrieb");
    let e = event(&t, Actor::agent("anna"), note(&["gabi", "bert"], false));
    assert_eq!(
        notifications(&config, &t, &e),
        (Reason::Note, vec!["bert".into(), "gabi".into()])
    );
    // An unknown queue among an agent's queues is a configuration error.
    let bad = CONFIG.replace(
        "login = \"gabi\"\n",
        "login = \"gabi\"\nnotifications = { queues = [\"Nirgendwo\"] }\n",
    );
    let err = Config::from_toml(&bad).unwrap_err().to_string();
    assert!(err.contains("Nirgendwo"), "{err}");
}
