//! Seed story: account applications at "onno". An applicant (a customer user) asks for an
//! account through the web form; the application lands in "onno::antrag", which every agent of
//! the "onno" group works. The queue promises a decision within two days (solution time "2d",
//! wall clock) and releases a lock after twelve hours in which its holder did not work on the
//! ticket. A twin queue, "onno::antrag-buero", makes the same promises in office hours (a
//! business calendar, Mon–Fri 09:00–17:00 Europe/Berlin).
//!
//! The story: a new application notifies the agents; a forgotten lock is released; a forgotten
//! application warns at 80 % of its time and escalates at 100 %; waiting for the applicant
//! (pending) stops the clock; the applicant sees the outcome, and only what is meant for them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ticketcore::{
    Actor, Channel, Config, DeadlineKind, Desk, Error, Event, EventKind, Lock, ManualClock,
    MemoryStore, Message, NewTicket, Priority, SeededEntropy, StateType, TickReport, Ticket,
    TicketId,
};

const ONNO: &str = r#"
[[groups]]
name = "onno"
[[groups]]
name = "hafen"

[[roles]]
name = "beirat"
groups = { onno = ["ro"] }

[[calendars]]
name = "buero"
time_zone = "Europe/Berlin"
hours = { mon = "09:00-17:00", tue = "09:00-17:00", wed = "09:00-17:00", thu = "09:00-17:00", fri = "09:00-17:00" }

[[queues]]
name = "onno"
group = "onno"

[[queues]]
name = "onno::antrag"
group = "onno"
unlock_timeout = "12h"
solution = "2d"

[[queues]]
name = "onno::antrag-buero"
group = "onno"
unlock_timeout = "12h"
solution = "2d"
calendar = "buero"

[[queues]]
name = "hafen"
group = "hafen"

# The agents who decide applications.
[[agents]]
login = "ocke"
name = "Ocke"
groups = { onno = ["rw"] }

[[agents]]
login = "frauke"
name = "Frauke"
groups = { onno = ["rw"] }

[[agents]]
login = "jan"
name = "Jan"
groups = { onno = ["rw"], hafen = ["ro"] }

# The advisory board reads along (through a role), decides nothing.
[[agents]]
login = "wiebke"
name = "Wiebke (Beirat)"
roles = ["beirat"]

# The harbour: another group entirely.
[[agents]]
login = "piet"
name = "Piet (Hafen)"
groups = { hafen = ["rw"] }

# May hand tickets into onno's queues but not read them.
[[agents]]
login = "gesche"
name = "Gesche (Hafen)"
groups = { hafen = ["rw"], onno = ["move_into"] }

# Left onno; still configured, no longer valid.
[[agents]]
login = "hauke"
name = "Hauke (ausgeschieden)"
groups = { onno = ["rw"] }
valid = false

[[customers]]
login = "antje"
name = "Antje Antragstellerin"
email = "antje@example.org"

[[customers]]
login = "bernd"
name = "Bernd"
email = "bernd@example.org"
"#;

const ANTRAG: &str = "onno::antrag";
const ANTRAG_BUERO: &str = "onno::antrag-buero";

/// Monday 2026-05-04, 09:00 in Berlin (CEST): the start of an office day.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 7, 0, 0).unwrap()
}

fn h(hours: i64) -> Duration {
    Duration::hours(hours)
}

fn m(minutes: i64) -> Duration {
    Duration::minutes(minutes)
}

struct Onno {
    desk: Desk,
    clock: ManualClock,
}

impl Onno {
    async fn new() -> Onno {
        let clock = ManualClock::new(start());
        let desk = Desk::new(Arc::new(MemoryStore::new()))
            .with_clock(Arc::new(clock.clone()))
            .with_entropy(Arc::new(SeededEntropy::new(1953)));
        let config = Config::from_toml(ONNO).expect("the onno configuration is valid");
        desk.configure(config).await.expect("configured");
        Onno { desk, clock }
    }

    /// Sets the desk's clock (operations are stamped with it).
    fn at(&self, t: DateTime<Utc>) {
        self.clock.set(t);
    }

    /// Runs maintenance at `t` (with the clock standing there too).
    async fn tick(&self, t: DateTime<Utc>) -> TickReport {
        self.at(t);
        self.desk.tick(t).await.expect("tick")
    }

    /// `customer` applies for an account through the web form, now.
    async fn apply(&self, customer: &str, queue: &str) -> Ticket {
        let input = NewTicket::new(
            queue,
            "Antrag auf ein Konto",
            Channel::Web,
            Message::text("Ich beantrage ein Konto. Unterlagen anbei."),
        );
        self.desk
            .create_ticket(&Actor::customer(customer), input)
            .await
            .expect("application created")
            .ticket
    }

    async fn ticket(&self, id: TicketId) -> Ticket {
        self.desk.ticket(&Actor::System, id).await.expect("ticket")
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

    /// Who was told of what on the ticket, in order: (why, whom, the article it carries).
    async fn notices(
        &self,
        id: TicketId,
    ) -> Vec<(
        ticketcore::notify::Reason,
        Vec<String>,
        Option<ticketcore::ArticleId>,
    )> {
        self.desk
            .history(&Actor::System, id)
            .await
            .expect("history")
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::Notify {
                    reason,
                    agents,
                    article,
                } => Some((reason, agents, article)),
                _ => None,
            })
            .collect()
    }

    /// How often history entries of type `kind` were recorded on the ticket.
    async fn count(&self, id: TicketId, kind: &str) -> usize {
        self.history(id)
            .await
            .iter()
            .filter(|e| e.kind.history_type() == kind)
            .count()
    }
}

fn agent(login: &str) -> Actor {
    Actor::agent(login)
}

fn set(logins: &[&str]) -> BTreeSet<String> {
    logins.iter().map(|s| s.to_string()).collect()
}

/// The agents who may read onno's queues, from the configuration above (not from the ACL).
fn onno_readers() -> BTreeSet<String> {
    set(&["frauke", "jan", "ocke", "wiebke"])
}

fn nothing() -> TickReport {
    TickReport::default()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_application_notifies_every_agent_who_may_read_the_queue() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", ANTRAG).await;
    assert_eq!(ticket.customer.as_deref(), Some("antje"));
    assert_eq!(ticket.state, "new");
    assert_eq!(ticket.owner, None, "nobody owns a fresh web application");

    let events = onno
        .desk
        .events_since(&Actor::System, 0, 1000)
        .await?
        .events;
    let new: Vec<&Event> = events
        .iter()
        .filter(|e| e.ticket == ticket.id && matches!(e.kind, EventKind::NewTicket { .. }))
        .collect();
    assert_eq!(new.len(), 1);
    let new = new[0];
    assert_eq!(new.actor, Actor::customer("antje"));
    assert!(
        events.iter().any(
            |e| e.ticket == ticket.id && matches!(e.kind, EventKind::WebRequestCustomer { .. })
        )
    );

    let config = onno.desk.config().await?;
    let to = ticketcore::notify::recipients(&config, &ticket, new);
    assert_eq!(to, onno_readers());
    for outsider in ["piet", "gesche", "hauke"] {
        assert!(!to.contains(outsider), "{outsider} must not hear of it");
    }
    // And they are told, in the same commit that made the ticket: one notice, naming every
    // agent of the queue, with the application's text to mail them.
    let notices = onno.notices(ticket.id).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let (reason, agents, article) = &notices[0];
    assert_eq!(*reason, ticketcore::notify::Reason::NewTicket);
    assert_eq!(
        agents.iter().cloned().collect::<BTreeSet<_>>(),
        onno_readers()
    );
    assert!(article.is_some(), "the application's text goes with it");
    // The ACL agrees with the expectation written from the configuration.
    for login in ["ocke", "frauke", "jan", "wiebke", "piet", "gesche", "hauke"] {
        let reads = ticketcore::acl::readable_queues(&config, login).contains(ANTRAG);
        assert_eq!(reads, onno_readers().contains(login), "{login}");
    }
    Ok(())
}

#[tokio::test]
async fn priority_stays_normal_by_default() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", ANTRAG).await;
    assert_eq!(ticket.priority, Priority::NORMAL);
    assert_eq!(ticket.priority.get(), 3);
    let history = onno.history(ticket.id).await;
    assert!(history.iter().any(|e| matches!(
        e.kind,
        EventKind::NewTicket { priority, .. } if priority.get() == 3
    )));

    // Working on it does not change the priority.
    let ocke = agent("ocke");
    onno.desk.lock(&ocke, ticket.id).await?;
    onno.desk
        .note(&ocke, ticket.id, Message::text("Prüfe."), false, &[])
        .await?;
    onno.desk
        .reply(
            &ocke,
            ticket.id,
            Message::text("Ihr Konto ist eingerichtet."),
        )
        .await?;
    onno.desk
        .set_state(&ocke, ticket.id, "closed successful", None)
        .await?;
    assert_eq!(onno.ticket(ticket.id).await.priority.get(), 3);
    assert_eq!(onno.count(ticket.id, "PriorityUpdate").await, 0);
    Ok(())
}

#[tokio::test]
async fn an_idle_lock_is_released_after_twelve_hours() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", ANTRAG).await;
    let t0 = start() + h(1);
    onno.at(t0);
    let locked = onno.desk.lock(&agent("ocke"), ticket.id).await?.ticket;
    assert_eq!(
        locked.lock,
        Lock::Locked {
            by: "ocke".into(),
            since: t0,
            until: Some(t0 + h(12)),
        }
    );
    assert_eq!(onno.desk.next_due().await?, Some(t0 + h(12)));

    assert_eq!(onno.tick(t0 + h(11) + m(59)).await, nothing());
    assert_eq!(onno.ticket(ticket.id).await.lock.holder(), Some("ocke"));

    let report = onno.tick(t0 + h(12)).await;
    assert_eq!(report.unlocked, 1);
    assert_eq!(report.tickets, 1);
    let released = onno.ticket(ticket.id).await;
    assert_eq!(released.lock, Lock::Unlocked);
    let unlocks: Vec<Event> = onno
        .history(ticket.id)
        .await
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Unlock { .. }))
        .collect();
    assert_eq!(unlocks.len(), 1);
    assert_eq!(unlocks[0].actor, Actor::System);
    assert_eq!(unlocks[0].at, t0 + h(12));
    assert_eq!(unlocks[0].kind, EventKind::Unlock { by: "ocke".into() });
    // ocke is told that the lock ran out, and nobody else.
    let lapsed: Vec<_> = onno
        .notices(ticket.id)
        .await
        .into_iter()
        .filter(|(reason, ..)| *reason == ticketcore::notify::Reason::LockTimeout)
        .collect();
    assert_eq!(lapsed.len(), 1);
    assert_eq!(lapsed[0].1, ["ocke"]);

    // Idempotent: the same tick again, or a later one, finds nothing to release.
    assert_eq!(onno.tick(t0 + h(12)).await, nothing());
    assert_eq!(onno.tick(t0 + h(13)).await, nothing());
    assert_eq!(onno.count(ticket.id, "Unlock").await, 1);
    assert_eq!(onno.ticket(ticket.id).await.version, released.version);

    // Now anyone of the group may take it; the next thing due is the escalation warning.
    onno.at(t0 + h(13));
    onno.desk.lock(&agent("frauke"), ticket.id).await?;
    onno.desk.unlock(&agent("frauke"), ticket.id).await?;
    assert_eq!(onno.desk.next_due().await?, Some(start() + h(38) + m(24)));
    Ok(())
}

#[tokio::test]
async fn the_holders_note_restarts_the_lock_timer() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", ANTRAG).await;
    let t0 = start() + h(1);
    onno.at(t0);
    onno.desk.lock(&agent("ocke"), ticket.id).await?;

    onno.at(t0 + h(6));
    let noted = onno
        .desk
        .note(
            &agent("ocke"),
            ticket.id,
            Message::text("Personalausweis fehlt noch."),
            false,
            &[],
        )
        .await?
        .ticket;
    match noted.lock {
        Lock::Locked { by, until, .. } => {
            assert_eq!(by, "ocke");
            assert_eq!(until, Some(t0 + h(18)));
        }
        Lock::Unlocked => panic!("the note must not release the lock"),
    }
    assert_eq!(onno.desk.next_due().await?, Some(t0 + h(18)));

    assert_eq!(onno.tick(t0 + h(12)).await, nothing());
    assert_eq!(onno.tick(t0 + h(17) + m(59)).await, nothing());
    assert_eq!(onno.ticket(ticket.id).await.lock.holder(), Some("ocke"));

    let report = onno.tick(t0 + h(18)).await;
    assert_eq!(report.unlocked, 1);
    assert_eq!(onno.ticket(ticket.id).await.lock, Lock::Unlocked);
    assert_eq!(onno.tick(t0 + h(18)).await, nothing());
    let unlocks: Vec<Event> = onno
        .history(ticket.id)
        .await
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Unlock { .. }))
        .collect();
    assert_eq!(unlocks.len(), 1);
    assert_eq!(unlocks[0].actor, Actor::System);
    assert_eq!(unlocks[0].at, t0 + h(18));
    Ok(())
}

#[tokio::test]
async fn a_colleagues_note_does_not_keep_the_holders_lock_alive() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", ANTRAG).await;
    let t0 = start() + h(1);
    onno.at(t0);
    onno.desk.lock(&agent("ocke"), ticket.id).await?;

    // Frauke chimes in; that is not Ocke working on it.
    onno.at(t0 + h(6));
    onno.desk
        .note(
            &agent("frauke"),
            ticket.id,
            Message::text("Ocke, schaust du da noch rein?"),
            false,
            &["ocke"],
        )
        .await?;
    assert_eq!(onno.desk.next_due().await?, Some(t0 + h(12)));
    assert_eq!(onno.tick(t0 + h(12)).await.unlocked, 1);
    assert_eq!(onno.ticket(ticket.id).await.lock, Lock::Unlocked);
    Ok(())
}

#[tokio::test]
async fn escalation_warns_at_80_percent_and_escalates_after_two_days() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", ANTRAG).await;
    let solution = ticket
        .escalation
        .get(DeadlineKind::Solution)
        .expect("a solution deadline")
        .clone();
    assert_eq!(solution.due, start() + h(48));
    assert_eq!(solution.warn_at, start() + h(38) + m(24));
    assert_eq!(ticket.escalation.due(), Some(start() + h(48)));
    assert!(ticket.escalation.first_response.is_none());
    assert!(ticket.escalation.update.is_none());
    assert_eq!(onno.desk.next_due().await?, Some(start() + h(38) + m(24)));

    assert_eq!(onno.tick(start() + h(38) + m(23)).await, nothing());
    let report = onno.tick(start() + h(38) + m(24)).await;
    assert_eq!(report.warnings, 1);
    assert_eq!(report.escalations, 0);
    // Ticking on (and again at the same time) does not warn again.
    assert_eq!(onno.tick(start() + h(38) + m(24)).await, nothing());
    assert_eq!(onno.tick(start() + h(40)).await, nothing());
    assert_eq!(onno.tick(start() + h(47) + m(59)).await, nothing());
    assert_eq!(onno.desk.next_due().await?, Some(start() + h(48)));
    assert!(!onno.ticket(ticket.id).await.escalation.escalated());

    let report = onno.tick(start() + h(48)).await;
    assert_eq!(report.escalations, 1);
    assert_eq!(report.warnings, 0);
    assert_eq!(onno.tick(start() + h(48)).await, nothing());
    assert_eq!(onno.tick(start() + h(72)).await, nothing());
    assert_eq!(onno.desk.next_due().await?, None, "nothing left to say");

    let escalated = onno.ticket(ticket.id).await;
    assert!(escalated.escalation.escalated());
    let history = onno.history(ticket.id).await;
    let warnings: Vec<&Event> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::EscalationWarning { .. }))
        .collect();
    let breaches: Vec<&Event> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Escalation { .. }))
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(breaches.len(), 1);
    assert_eq!(
        warnings[0].kind,
        EventKind::EscalationWarning {
            deadline: DeadlineKind::Solution,
            due: start() + h(48),
        }
    );
    assert_eq!(warnings[0].at, start() + h(38) + m(24));
    assert_eq!(warnings[0].actor, Actor::System);
    assert_eq!(
        breaches[0].kind,
        EventKind::Escalation {
            deadline: DeadlineKind::Solution,
            due: start() + h(48),
        }
    );
    assert_eq!(breaches[0].at, start() + h(48));
    assert_eq!(breaches[0].actor, Actor::System);

    // Nobody owns it: the whole group hears of the escalation.
    let config = onno.desk.config().await?;
    assert_eq!(
        ticketcore::notify::recipients(&config, &escalated, breaches[0]),
        onno_readers()
    );
    Ok(())
}

#[tokio::test]
async fn a_late_tick_warns_and_escalates_once_each() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", ANTRAG).await;

    // Maintenance was down for five days.
    let report = onno.tick(start() + h(24 * 5)).await;
    assert_eq!((report.warnings, report.escalations), (1, 1));
    assert_eq!(report.tickets, 1);
    let kinds: Vec<&str> = onno
        .history(ticket.id)
        .await
        .iter()
        .filter(|e| e.actor == Actor::System)
        .map(|e| e.kind.history_type())
        .collect();
    assert_eq!(kinds, ["EscalationWarning", "Escalation"]);
    for _ in 0..3 {
        assert_eq!(onno.tick(start() + h(24 * 5)).await, nothing());
    }
    assert_eq!(onno.tick(start() + h(24 * 6)).await, nothing());
    assert_eq!(onno.count(ticket.id, "EscalationWarning").await, 1);
    assert_eq!(onno.count(ticket.id, "Escalation").await, 1);
    assert!(onno.ticket(ticket.id).await.escalation.escalated());
    Ok(())
}

#[tokio::test]
async fn waiting_for_the_applicant_pauses_the_escalation_clock() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ocke = agent("ocke");
    let ticket = onno.apply("antje", ANTRAG).await;
    assert_eq!(ticket.escalation.due(), Some(start() + h(48)));

    // After ten hours Ocke asks for a missing document and waits (pending reminder).
    onno.at(start() + h(10));
    let pending = onno
        .desk
        .set_state(&ocke, ticket.id, "pending reminder", Some(start() + h(34)))
        .await?
        .ticket;
    assert_eq!(pending.state_type, StateType::PendingReminder);
    assert_eq!(
        pending.escalation.due(),
        None,
        "a paused clock is due never"
    );
    let paused = pending.escalation.solution.clone().expect("kept, paused");
    assert_eq!(
        paused.paused,
        Some((h(38).num_seconds(), (h(28) + m(24)).num_seconds()))
    );
    assert_eq!(onno.desk.next_due().await?, Some(start() + h(34)));

    // While waiting the old warning and due times pass without a word.
    assert_eq!(onno.tick(start() + h(20)).await, nothing());

    // The document arrives after twenty hours; the clock resumes with the 38 hours left.
    onno.at(start() + h(20));
    let open = onno
        .desk
        .set_state(&ocke, ticket.id, "open", None)
        .await?
        .ticket;
    assert_eq!(open.pending_until, None);
    let resumed = open.escalation.solution.clone().expect("running again");
    assert_eq!(resumed.paused, None);
    assert_eq!(resumed.due, start() + h(48) + h(10));
    assert_eq!(resumed.warn_at, start() + h(38) + m(24) + h(10));
    assert_eq!(open.escalation.due(), Some(start() + h(58)));
    assert_eq!(onno.desk.next_due().await?, Some(start() + h(48) + m(24)));

    assert_eq!(onno.tick(start() + h(38) + m(24)).await, nothing());
    assert_eq!(onno.tick(start() + h(48)).await, nothing());
    assert_eq!(onno.tick(start() + h(48) + m(24)).await.warnings, 1);
    assert_eq!(onno.tick(start() + h(57) + m(59)).await, nothing());
    assert_eq!(onno.tick(start() + h(58)).await.escalations, 1);
    assert_eq!(onno.tick(start() + h(58)).await, nothing());
    assert_eq!(onno.count(ticket.id, "Reminder").await, 0);
    assert_eq!(onno.count(ticket.id, "EscalationWarning").await, 1);
    assert_eq!(onno.count(ticket.id, "Escalation").await, 1);
    Ok(())
}

#[tokio::test]
async fn office_hours_count_for_the_calendar_queue() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    // Monday 09:00 Berlin.
    let ticket = onno.apply("antje", ANTRAG_BUERO).await;
    let solution = ticket.escalation.solution.clone().expect("deadline");
    // 48 working hours = six office days of eight hours: Monday next week, 17:00 Berlin.
    assert_eq!(
        solution.due,
        Utc.with_ymd_and_hms(2026, 5, 11, 15, 0, 0).unwrap()
    );
    // 38h24m: four days (32h) and 6h24m of Friday: Friday 15:24 Berlin.
    assert_eq!(
        solution.warn_at,
        Utc.with_ymd_and_hms(2026, 5, 8, 13, 24, 0).unwrap()
    );

    // A lock taken Monday 09:00 lasts 8 hours of Monday and 4 of Tuesday: 13:00 Berlin.
    let locked = onno.desk.lock(&agent("jan"), ticket.id).await?.ticket;
    let expiry = Utc.with_ymd_and_hms(2026, 5, 5, 11, 0, 0).unwrap();
    match locked.lock {
        Lock::Locked { until, .. } => assert_eq!(until, Some(expiry)),
        Lock::Unlocked => panic!("locked"),
    }
    assert_eq!(onno.desk.next_due().await?, Some(expiry));
    // Twelve wall-clock hours are not twelve office hours.
    assert_eq!(onno.tick(start() + h(12)).await, nothing());
    assert_eq!(onno.tick(expiry - m(1)).await, nothing());
    assert_eq!(onno.tick(expiry).await.unlocked, 1);
    assert_eq!(onno.tick(expiry).await, nothing());

    // Friday's warning, nothing over the weekend, the escalation on Monday evening.
    assert_eq!(onno.tick(solution.warn_at - m(1)).await, nothing());
    assert_eq!(onno.tick(solution.warn_at).await.warnings, 1);
    assert_eq!(
        onno.tick(Utc.with_ymd_and_hms(2026, 5, 10, 20, 0, 0).unwrap())
            .await,
        nothing()
    );
    assert_eq!(onno.tick(solution.due - m(1)).await, nothing());
    assert_eq!(onno.tick(solution.due).await.escalations, 1);
    assert_eq!(onno.tick(solution.due + h(24)).await, nothing());
    assert!(onno.ticket(ticket.id).await.escalation.escalated());
    Ok(())
}

#[tokio::test]
async fn applications_end_closed_successful_or_unsuccessful() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let (ocke, frauke) = (agent("ocke"), agent("frauke"));
    let (antje, bernd) = (Actor::customer("antje"), Actor::customer("bernd"));
    let granted = onno.apply("antje", ANTRAG).await;
    let refused = onno.apply("antje", ANTRAG).await;
    assert!(granted.escalation.due().is_some());

    onno.at(start() + h(3));
    onno.desk.lock(&ocke, granted.id).await?;
    onno.desk
        .reply(
            &ocke,
            granted.id,
            Message::text("Ihr Konto ist eingerichtet."),
        )
        .await?;
    let closed = onno
        .desk
        .set_state(&ocke, granted.id, "closed successful", None)
        .await?
        .ticket;
    assert_eq!(closed.state, "closed successful");
    assert_eq!(closed.state_type, StateType::ClosedSuccessful);
    assert_eq!(closed.lock, Lock::Unlocked, "closing releases the lock");
    assert_eq!(closed.escalation.due(), None);
    assert!(closed.escalation.solution.is_none());
    assert!(!closed.escalation.escalated());

    onno.at(start() + h(5));
    onno.desk.lock(&frauke, refused.id).await?;
    onno.desk
        .reply(
            &frauke,
            refused.id,
            Message::text("Leider können wir kein Konto einrichten."),
        )
        .await?;
    let closed = onno
        .desk
        .set_state(&frauke, refused.id, "closed unsuccessful", None)
        .await?
        .ticket;
    assert_eq!(closed.state, "closed unsuccessful");
    assert_eq!(closed.state_type, StateType::ClosedUnsuccessful);
    assert_eq!(closed.escalation.due(), None);
    assert!(closed.escalation.solution.is_none());

    // Closed applications neither warn nor escalate, however late it gets.
    assert_eq!(onno.desk.next_due().await?, None);
    assert_eq!(onno.tick(start() + h(24 * 10)).await, nothing());

    // The applicant sees the outcome of each of her applications ...
    let seen = onno.desk.ticket(&antje, granted.id).await?;
    assert_eq!(seen.state, "closed successful");
    let seen = onno.desk.ticket(&antje, refused.id).await?;
    assert_eq!(seen.state, "closed unsuccessful");
    let states: Vec<String> = onno
        .desk
        .history(&antje, refused.id)
        .await?
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StateUpdate { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(states, ["open", "closed unsuccessful"]);
    // ... and nobody else's applicant sees them at all.
    for id in [granted.id, refused.id] {
        assert!(matches!(
            onno.desk.ticket(&bernd, id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            onno.desk.articles(&bernd, id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            onno.desk.history(&bernd, id).await,
            Err(Error::NotFound(_))
        ));
    }
    for number in [&granted.number, &refused.number] {
        assert!(matches!(
            onno.desk.find(&bernd, number.as_str()).await,
            Err(Error::NotFound(_))
        ));
        assert_eq!(
            onno.desk
                .find(&antje, number.as_str())
                .await?
                .customer
                .as_deref(),
            Some("antje")
        );
    }
    // Nor do agents of other groups.
    assert!(matches!(
        onno.desk.ticket(&agent("piet"), granted.id).await,
        Err(Error::NotFound(_))
    ));
    Ok(())
}

#[tokio::test]
async fn the_applicant_sees_the_state_while_it_is_worked_on() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let antje = Actor::customer("antje");
    let ticket = onno.apply("antje", ANTRAG).await;
    assert_eq!(onno.desk.ticket(&antje, ticket.id).await?.state, "new");
    onno.desk.lock(&agent("jan"), ticket.id).await?;
    onno.desk
        .reply(&agent("jan"), ticket.id, Message::text("Wir prüfen."))
        .await?;
    assert_eq!(onno.desk.ticket(&antje, ticket.id).await?.state, "open");
    onno.desk
        .set_state(
            &agent("jan"),
            ticket.id,
            "pending reminder",
            Some(start() + h(24)),
        )
        .await?;
    assert_eq!(
        onno.desk.ticket(&antje, ticket.id).await?.state,
        "pending reminder"
    );
    assert!(matches!(
        onno.desk.ticket(&Actor::customer("bernd"), ticket.id).await,
        Err(Error::NotFound(_))
    ));
    Ok(())
}

#[tokio::test]
async fn internal_notes_stay_invisible_to_the_applicant() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ocke = agent("ocke");
    let antje = Actor::customer("antje");
    let ticket = onno.apply("antje", ANTRAG).await;
    onno.desk.lock(&ocke, ticket.id).await?;

    let internal = onno
        .desk
        .note(
            &ocke,
            ticket.id,
            Message::text("Bonität fraglich, Frauke bitte gegenprüfen."),
            false,
            &["frauke"],
        )
        .await?;
    let visible = onno
        .desk
        .note(
            &ocke,
            ticket.id,
            Message::text("Ihr Antrag ist eingegangen und wird geprüft."),
            true,
            &[],
        )
        .await?;
    let article_of = |c: &ticketcore::Committed| match c.events.as_slice() {
        [first, ..] => match &first.kind {
            EventKind::AddNote { article, .. } => *article,
            other => panic!("expected AddNote first, got {other:?}"),
        },
        [] => panic!("no events"),
    };
    let (internal_article, visible_article) = (article_of(&internal), article_of(&visible));

    // The agent sees all three articles, the applicant her request and the visible note.
    let all = onno.desk.articles(&ocke, ticket.id).await?;
    assert_eq!(all.len(), 3);
    let hers = onno.desk.articles(&antje, ticket.id).await?;
    let ids: Vec<_> = hers.iter().map(|a| a.id).collect();
    assert_eq!(hers.len(), 2);
    assert!(ids.contains(&visible_article));
    assert!(!ids.contains(&internal_article));
    assert!(hers.iter().all(|a| a.visible_to_customer));
    assert!(
        hers.iter().all(|a| !a.body.contains("Bonität")),
        "the internal text must not reach the applicant"
    );

    // The same in the history.
    let notes = |history: &[Event]| -> Vec<(ticketcore::ArticleId, bool)> {
        history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::AddNote {
                    article,
                    visible_to_customer,
                    ..
                } => Some((*article, *visible_to_customer)),
                _ => None,
            })
            .collect()
    };
    let agent_history = onno.desk.history(&ocke, ticket.id).await?;
    assert_eq!(
        notes(&agent_history),
        [(internal_article, false), (visible_article, true)]
    );
    let her_history = onno.desk.history(&antje, ticket.id).await?;
    assert_eq!(notes(&her_history), [(visible_article, true)]);
    assert!(
        her_history.iter().all(|e| !matches!(
            e.kind,
            EventKind::Lock { .. } | EventKind::OwnerUpdate { .. }
        )),
        "agent bookkeeping is not the applicant's business"
    );

    // The internal note notified Frauke (and only her).
    let config = onno.desk.config().await?;
    let current = onno.ticket(ticket.id).await;
    assert_eq!(
        ticketcore::notify::recipients(&config, &current, &internal.events[0]),
        set(&["frauke"])
    );
    Ok(())
}

#[tokio::test]
async fn a_pending_reminder_reminds_the_owner_once() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ocke = agent("ocke");
    let ticket = onno.apply("antje", ANTRAG).await;
    onno.at(start() + h(2));
    onno.desk.lock(&ocke, ticket.id).await?;
    onno.desk
        .reply(
            &ocke,
            ticket.id,
            Message::text("Bitte reichen Sie eine Meldebescheinigung nach."),
        )
        .await?;
    let remind_at = start() + h(24 * 3);
    onno.desk
        .set_state(&ocke, ticket.id, "pending reminder", Some(remind_at))
        .await?;
    // The lock does not expire while waiting, the escalation clock stands: the reminder is next.
    assert_eq!(onno.desk.next_due().await?, Some(remind_at));

    assert_eq!(onno.tick(start() + h(24)).await, nothing());
    assert_eq!(onno.tick(remind_at - m(1)).await, nothing());

    let report = onno.tick(remind_at).await;
    assert_eq!(report.reminders, 1);
    assert_eq!(report.tickets, 1);
    let reminders: Vec<Event> = onno
        .history(ticket.id)
        .await
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Reminder { .. }))
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(
        reminders[0].kind,
        EventKind::Reminder {
            owner: Some("ocke".into())
        }
    );
    assert_eq!(reminders[0].actor, Actor::System);
    assert_eq!(reminders[0].at, remind_at);
    let reminded = onno.ticket(ticket.id).await;
    assert_eq!(
        reminded.state, "pending reminder",
        "reminding does not reopen"
    );
    let config = onno.desk.config().await?;
    assert_eq!(
        ticketcore::notify::recipients(&config, &reminded, &reminders[0]),
        set(&["ocke"])
    );

    assert_eq!(onno.tick(remind_at).await, nothing());
    assert_eq!(onno.tick(remind_at + h(24)).await, nothing());
    assert_eq!(onno.count(ticket.id, "Reminder").await, 1);
    assert_eq!(onno.desk.next_due().await?, None);
    Ok(())
}

#[tokio::test]
async fn pending_auto_close_closes_successfully_at_its_time() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ocke = agent("ocke");
    let ticket = onno.apply("antje", ANTRAG).await;
    onno.at(start() + h(1));
    onno.desk.lock(&ocke, ticket.id).await?;
    onno.desk
        .reply(
            &ocke,
            ticket.id,
            Message::text("Ihr Konto ist eingerichtet; wir schließen in einer Woche."),
        )
        .await?;
    let close_at = start() + h(24 * 7);
    onno.desk
        .set_state(&ocke, ticket.id, "pending auto close+", Some(close_at))
        .await?;
    assert_eq!(onno.desk.next_due().await?, Some(close_at));

    assert_eq!(
        onno.tick(start() + h(48)).await,
        nothing(),
        "paused: no escalation"
    );
    assert_eq!(onno.tick(close_at - m(1)).await, nothing());
    let report = onno.tick(close_at).await;
    assert_eq!(report.closed, 1);
    assert_eq!(report.unlocked, 1);

    let closed = onno.ticket(ticket.id).await;
    assert_eq!(closed.state, "closed successful");
    assert_eq!(closed.state_type, StateType::ClosedSuccessful);
    assert_eq!(closed.lock, Lock::Unlocked);
    assert_eq!(closed.pending_until, None);
    assert_eq!(closed.escalation.due(), None);
    let update = onno
        .history(ticket.id)
        .await
        .into_iter()
        .rfind(|e| matches!(e.kind, EventKind::StateUpdate { .. }))
        .expect("a state update");
    assert_eq!(update.actor, Actor::System);
    assert_eq!(update.at, close_at);
    assert_eq!(
        update.kind,
        EventKind::StateUpdate {
            from: "pending auto close+".into(),
            to: "closed successful".into(),
            state_type: StateType::ClosedSuccessful,
        }
    );

    assert_eq!(onno.tick(close_at).await, nothing());
    assert_eq!(onno.tick(close_at + h(24)).await, nothing());
    assert_eq!(
        onno.desk
            .ticket(&Actor::customer("antje"), ticket.id)
            .await?
            .state,
        "closed successful"
    );
    Ok(())
}

#[tokio::test]
async fn pending_auto_close_minus_closes_unsuccessfully() -> ticketcore::Result<()> {
    let onno = Onno::new().await;
    let ocke = agent("ocke");
    let ticket = onno.apply("antje", ANTRAG).await;
    let close_at = start() + h(24 * 14);
    onno.desk
        .set_state(&ocke, ticket.id, "pending auto close-", Some(close_at))
        .await?;
    assert_eq!(onno.tick(close_at - m(1)).await, nothing());
    assert_eq!(onno.tick(close_at).await.closed, 1);
    let closed = onno.ticket(ticket.id).await;
    assert_eq!(closed.state, "closed unsuccessful");
    assert_eq!(closed.state_type, StateType::ClosedUnsuccessful);
    assert_eq!(onno.tick(close_at).await, nothing());
    Ok(())
}

/// An application sent to the harbour by mistake: Gesche (harbour) hands it into onno's
/// application queue (she may move it in, not read it). The harbour promises nothing; onno
/// promises a decision within two days, and that promise must hold for the handed-in
/// application too, counting from when it arrived (at the latest from the hand-over).
#[tokio::test]
async fn an_application_handed_in_from_another_queue_gets_onnos_deadline() -> ticketcore::Result<()>
{
    let onno = Onno::new().await;
    let ticket = onno.apply("antje", "hafen").await;
    assert!(
        ticket.escalation.solution.is_none(),
        "the harbour has no solution time"
    );

    let moved_at = start() + h(5);
    onno.at(moved_at);
    let moved = onno
        .desk
        .move_ticket(&agent("gesche"), ticket.id, ANTRAG)
        .await?
        .ticket;
    assert_eq!(moved.queue, ANTRAG);
    let solution = moved
        .escalation
        .solution
        .clone()
        .expect("onno's two days start for a ticket moved into onno::antrag");
    assert!(
        solution.due >= start() + h(48) && solution.due <= moved_at + h(48),
        "due {} is neither two days after arrival nor after the hand-over",
        solution.due
    );
    assert_eq!(onno.tick(moved_at + h(48)).await.escalations, 1);
    assert!(onno.ticket(ticket.id).await.escalation.escalated());
    Ok(())
}

/// Onno names its own states and forgets the closed state an auto-close needs. Whatever the
/// engine does about that (refuse the configuration, or skip the one ticket it cannot close),
/// it must not stop maintenance for every other application: locks must still be released and
/// escalations still raised.
#[tokio::test]
async fn one_application_that_cannot_be_auto_closed_does_not_stop_maintenance() {
    let toml = format!(
        "{ONNO}\n{}",
        r#"
[rules]
new_state = "neu"
open_state = "in Prüfung"
merged_state = "zusammengeführt"

[[states]]
name = "neu"
type = "new"
[[states]]
name = "in Prüfung"
type = "open"
[[states]]
name = "bewilligt"
type = "closed_successful"
[[states]]
name = "wird abgelehnt"
type = "pending_auto_close_unsuccessful"
[[states]]
name = "zusammengeführt"
type = "merged"
"#
    );
    let config = match Config::from_toml(&toml) {
        // Refusing a pending auto-close state without a closed state to close into is a fix.
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains("closed_unsuccessful") || e.contains("wird abgelehnt"),
                "refused for another reason: {e}"
            );
            return;
        }
        Ok(config) => config,
    };
    let onno = Onno::new().await;
    onno.desk.configure(config).await.expect("configured");
    let ocke = agent("ocke");

    let doomed = onno.apply("antje", ANTRAG).await;
    onno.desk
        .set_state(&ocke, doomed.id, "wird abgelehnt", Some(start() + h(1)))
        .await
        .expect("pending auto close-");
    let waiting = onno.apply("bernd", ANTRAG).await;

    let at = start() + h(48);
    onno.at(at);
    let report = onno.desk.tick(at).await;
    assert!(
        report.is_ok(),
        "one ticket's failure aborted the whole maintenance run: {report:?}"
    );
    let waiting = onno.ticket(waiting.id).await;
    assert!(
        waiting.escalation.escalated(),
        "bernd's application never escalates"
    );
}

/// Two maintenance processes (two desks on one store) tick at the same moment: the lock is
/// released once, the escalation raised once.
#[tokio::test]
async fn two_maintenance_runs_at_once_act_once() -> ticketcore::Result<()> {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(start());
    let desk = |seed| {
        Desk::new(store.clone())
            .with_clock(Arc::new(clock.clone()))
            .with_entropy(Arc::new(SeededEntropy::new(seed)))
    };
    let (one, two) = (desk(1), desk(2));
    one.configure(Config::from_toml(ONNO).expect("valid"))
        .await?;
    let input = NewTicket::new(
        ANTRAG,
        "Antrag auf ein Konto",
        Channel::Web,
        Message::text("Bitte ein Konto."),
    );
    let ticket = one
        .create_ticket(&Actor::customer("antje"), input)
        .await?
        .ticket;
    one.lock(&agent("ocke"), ticket.id).await?;

    for at in [start() + h(12), start() + h(48)] {
        clock.set(at);
        let (a, b) = tokio::join!(one.tick(at), two.tick(at));
        let (a, b) = (a?, b?);
        assert_eq!(a.unlocked + b.unlocked, usize::from(at == start() + h(12)));
        assert_eq!(
            a.escalations + b.escalations,
            usize::from(at == start() + h(48))
        );
    }
    let history = two.history(&Actor::System, ticket.id).await?;
    let count = |kind: &str| {
        history
            .iter()
            .filter(|e| e.kind.history_type() == kind)
            .count()
    };
    assert_eq!(count("Unlock"), 1);
    assert_eq!(count("EscalationWarning"), 1);
    assert_eq!(count("Escalation"), 1);
    Ok(())
}
