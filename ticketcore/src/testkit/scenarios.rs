//! Scenario tests every backend must pass: each takes a fresh, empty store.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::Duration;

use super::{desk_with, fixture_config};
use crate::acl::CustomerUser;
use crate::article::{Channel, ContentHash, Message, NewAttachment};
use crate::clock::{Clock, ManualClock};
use crate::desk::Desk;
use crate::error::Error;
use crate::event::{Actor, EventKind};
use crate::rules::{FollowUpAction, NewTicket, Op};
use crate::state::StateType;
use crate::store::{Change, Store, StoreError, TicketQuery, Unique};
use crate::ticket::{LinkKind, Lock, Priority, Ticket};

pub use super::counting::stats_count_what_happened;
pub use super::knowledge::faq_is_found_versioned_and_sent;
pub use super::searching::{search_finds_what_was_written, search_ranks_pages_and_explains};

fn agent(login: &str) -> Actor {
    Actor::agent(login)
}

fn customer(login: &str) -> Actor {
    Actor::customer(login)
}

async fn fixture(store: Arc<dyn Store>) -> (Desk, ManualClock) {
    desk_with(store, fixture_config(), 7).await
}

/// A customer web request in `queue`.
async fn request(desk: &Desk, who: &str, queue: &str, title: &str) -> Ticket {
    desk.create_ticket(
        &customer(who),
        NewTicket::new(
            queue,
            title,
            Channel::Web,
            Message::text(format!("{title}?")),
        ),
    )
    .await
    .expect("create ticket")
    .ticket
}

/// The history types of `events`, without the notifications they caused (tested on their
/// own in `notifications_are_decided_with_the_event`).
fn types(events: &[crate::event::Event]) -> Vec<&'static str> {
    acts(events).map(|e| e.kind.history_type()).collect()
}

/// `events` without the notifications they caused.
fn acts(events: &[crate::event::Event]) -> impl DoubleEndedIterator<Item = &crate::event::Event> {
    events
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::Notify { .. }))
}

/// The configuration document is versioned with compare-and-swap.
pub async fn config_is_versioned(store: Arc<dyn Store>) {
    assert_eq!(store.config().await.unwrap(), None);
    let config = fixture_config();
    assert_eq!(store.save_config(&config, 0).await.unwrap(), 1);
    assert!(matches!(
        store.save_config(&config, 0).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.save_config(&config, 1).await.unwrap(), 2);
    let stored = store.config().await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.config, config);
}

/// Customer users by login and by email (case-insensitive); emails stay unique.
pub async fn customers_directory(store: Arc<dyn Store>) {
    let karla = CustomerUser {
        login: "karla".into(),
        name: "Karla Kunde".into(),
        email: "Karla@ACME.example".into(),
        company: Some("ACME".into()),
        valid: true,
    };
    store.put_customer(&karla).await.unwrap();
    assert_eq!(store.customer("karla").await.unwrap(), Some(karla.clone()));
    assert_eq!(
        store.customer_by_email("karla@acme.EXAMPLE").await.unwrap(),
        Some(karla.clone())
    );
    let moved = CustomerUser {
        email: "karla@new.example".into(),
        valid: false,
        ..karla.clone()
    };
    store.put_customer(&moved).await.unwrap();
    assert_eq!(
        store.customer_by_email("karla@acme.example").await.unwrap(),
        None
    );
    assert_eq!(
        store.customer_by_email("karla@new.example").await.unwrap(),
        Some(moved)
    );
    let thief = CustomerUser {
        login: "kurt".into(),
        email: "karla@new.example".into(),
        ..karla.clone()
    };
    assert!(store.put_customer(&thief).await.is_err());
    assert_eq!(store.customer("nobody").await.unwrap(), None);

    // The directory page by page, each login once (in the order of the backend's collation).
    for (i, login) in ["zoe", "Zoe", "anna", "karl", "ännchen"].iter().enumerate() {
        let c = CustomerUser {
            login: login.to_string(),
            email: format!("c{i}@dir.example"),
            ..karla.clone()
        };
        store.put_customer(&c).await.unwrap();
    }
    let mut logins = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.customers(after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.login.clone());
        logins.extend(page.into_iter().map(|c| c.login));
    }
    let mut sorted = logins.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), logins.len(), "no login twice: {logins:?}");
    assert_eq!(sorted, ["Zoe", "anna", "karl", "karla", "zoe", "ännchen"]);
    let last = logins.last().unwrap();
    assert!(store.customers(Some(last), 10).await.unwrap().is_empty());
    assert_eq!(store.customers(None, 0).await.unwrap(), Vec::new());
}

/// Counters hand out disjoint blocks even under concurrency.
pub async fn counters_are_atomic(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..20 {
                let first = store.next_counter("c", 3).await.unwrap();
                got.extend([first, first + 1, first + 2]);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=16 * 20 * 3).collect::<Vec<u64>>());
    assert_eq!(store.next_counter("other", 1).await.unwrap(), 1);
}

/// A change's quotas are counted in its transaction and refuse it whole once used up, also
/// within one batch; a failed change uses none.
pub async fn quotas_count_with_their_change(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let ticket = request(&desk, "karla", "Support", "counted").await;
    assert_eq!(store.counter("replies").await.unwrap(), 0);
    let quota = |limit| crate::store::Quota {
        key: "replies".into(),
        limit,
    };
    let touch = |t: &Ticket, quotas: Vec<crate::store::Quota>| {
        let mut next = t.clone();
        next.version += 1;
        Change {
            writes: vec![crate::store::TicketWrite {
                ticket: next,
                expected_version: Some(t.version),
                articles: Vec::new(),
                blobs: Vec::new(),
                events: Vec::new(),
                tallies: Vec::new(),
            }],
            quotas,
        }
    };
    let current = || async { store.ticket(ticket.id).await.unwrap().unwrap() };
    store
        .commit(touch(&current().await, vec![quota(3), quota(3)]))
        .await
        .unwrap();
    assert_eq!(store.counter("replies").await.unwrap(), 2);
    // A stale change fails whole: its quota stays unused.
    let stale = store.commit(touch(&ticket, vec![quota(3)])).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(store.counter("replies").await.unwrap(), 2);
    // Over the limit: refused, and the ticket is unchanged.
    let before = current().await;
    let over = store.commit(touch(&before, vec![quota(2)])).await;
    assert!(
        matches!(over, Err(StoreError::QuotaExhausted(_))),
        "{over:?}"
    );
    assert_eq!(current().await.version, before.version);
    // In one batch, the first change takes the last unit and the second is refused alone.
    let other = request(&desk, "karla", "Support", "second").await;
    let results = store
        .commit_batch(vec![
            touch(&before, vec![quota(3)]),
            touch(&other, vec![quota(3)]),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(StoreError::QuotaExhausted(_))),
        "{results:?}"
    );
    assert_eq!(store.counter("replies").await.unwrap(), 3);
    assert_eq!(
        store.ticket(other.id).await.unwrap().unwrap().version,
        other.version
    );
}

/// Two desks on one store (two processes) issuing numbers concurrently never collide.
pub async fn numbers_unique_across_desks(store: Arc<dyn Store>) {
    let (a, _) = fixture(store.clone()).await;
    let (b, _) = desk_with(store.clone(), fixture_config(), 8).await;
    let desks = Arc::new([a, b]);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let desks = desks.clone();
        tasks.push(tokio::spawn(async move {
            let desk = &desks[i % 2];
            let mut numbers = Vec::new();
            for n in 0..10 {
                numbers.push(
                    request(desk, "karla", "Support", &format!("t{i}-{n}"))
                        .await
                        .number,
                );
            }
            numbers
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for n in t.await.unwrap() {
            let config = desks[0].config().await.unwrap();
            assert!(config.numbers.parse(n.as_str()).is_ok(), "{n} validates");
            assert!(seen.insert(n.clone()), "number {n} issued twice");
        }
    }
    assert_eq!(seen.len(), 160);
}

/// A burst of concurrent creations refills the desk's number blocks one reservation at a
/// time: no creation reserves a block of its own, so the numbers issued stay gap-free.
pub async fn number_blocks_refill_once(store: Arc<dyn Store>) {
    let mut config = fixture_config();
    config.numbers.block = 8;
    let (desk, _) = desk_with(store.clone(), config.clone(), 9).await;
    let desk = Arc::new(desk);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let desk = desk.clone();
            tokio::spawn(async move {
                request(&desk, "karla", "Support", &format!("b{i}"))
                    .await
                    .number
            })
        })
        .collect();
    let mut issued = BTreeSet::new();
    for t in tasks {
        issued.insert(t.await.unwrap());
    }
    let day = super::epoch().date_naive();
    let expected: BTreeSet<_> = (1..=40).map(|n| config.numbers.format(day, n, 0)).collect();
    assert_eq!(issued, expected);
    let key = config
        .numbers
        .counter_key(day)
        .expect("a counted generator");
    let reserved = store.counter(&key).await.unwrap();
    // A block per creation would be 320; the reservations grow under the burst, and the
    // last one may lie ahead, unused.
    assert!(
        reserved < 40 * 8,
        "{reserved} values reserved for 40 tickets"
    );
}

/// Date-based numbers restart their counter each day; lookups by number work.
pub async fn numbers_restart_each_day(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store).await;
    let first = request(&desk, "karla", "Support", "one").await;
    assert_eq!(first.number.as_str(), "2026030210000012");
    let second = request(&desk, "karla", "Support", "two").await;
    assert_eq!(&second.number.as_str()[..15], "202603021000002");
    clock.advance(Duration::days(1));
    let next_day = request(&desk, "karla", "Support", "three").await;
    assert_eq!(&next_day.number.as_str()[..15], "202603031000001");
    let found = desk
        .find(&agent("anna"), first.number.as_str())
        .await
        .unwrap();
    assert_eq!(found.id, first.id);
    assert!(matches!(
        desk.find(&agent("anna"), "2026030210000013").await,
        Err(Error::Number(_))
    ));
}

/// A created ticket reads back identically by id, number and Message-ID.
pub async fn create_and_read_back(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let mut message = Message::text("Mein Drucker brennt.").with_subject("Drucker");
    message.message_id = Some("abc@mail.example".into());
    message.from = "Karla <karla@acme.example>".into();
    let mut input = NewTicket::new("Support", "Drucker", Channel::Email, message);
    input.customer = Some("karla".into());
    input.priority = Some(Priority::new(4).unwrap());
    let committed = desk.create_ticket(&Actor::System, input).await.unwrap();
    let t = committed.ticket;
    assert_eq!(types(&committed.events), ["NewTicket", "EmailCustomer"]);
    assert_eq!((t.version, t.state_type), (1, StateType::New));
    assert_eq!(t.priority.get(), 4);
    assert_eq!(store.ticket(t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(
        store.ticket_by_number(&t.number).await.unwrap(),
        Some(t.clone())
    );
    let articles = store.articles(t.id).await.unwrap();
    assert_eq!(articles.len(), 1);
    assert_eq!(articles[0].body, "Mein Drucker brennt.");
    assert_eq!(
        store
            .article_by_message_id("abc@mail.example")
            .await
            .unwrap(),
        Some(articles[0].clone())
    );
    assert_eq!(store.article_by_message_id("nope@x").await.unwrap(), None);
    let missing = crate::ticket::TicketId(uuid::Uuid::nil());
    assert_eq!(store.ticket(missing).await.unwrap(), None);
    assert!(store.articles(missing).await.unwrap().is_empty());
}

/// Attachments are stored once per content and read back byte for byte.
pub async fn attachments_stored_once(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let file = |name: &str| NewAttachment {
        name: name.into(),
        content_type: "application/octet-stream".into(),
        inline: false,
        data: data.clone(),
    };
    let mut message = Message::text("see attachment");
    message.attachments = vec![file("a.bin")];
    let t = desk
        .create_ticket(
            &customer("karla"),
            NewTicket::new("Support", "files", Channel::Web, message),
        )
        .await
        .unwrap()
        .ticket;
    let mut again = Message::text("same file, other name");
    again.attachments = vec![file("b.bin")];
    desk.note(&agent("anna"), t.id, again, false, &[])
        .await
        .unwrap();
    let articles = store.articles(t.id).await.unwrap();
    let hashes: BTreeSet<_> = articles
        .iter()
        .flat_map(|a| a.attachments.iter().map(|x| x.hash.clone()))
        .collect();
    assert_eq!(hashes.len(), 1);
    let hash = hashes.into_iter().next().unwrap();
    assert_eq!(hash, ContentHash::of(&data));
    assert_eq!(store.blob(&hash).await.unwrap(), Some(data.clone()));
    assert_eq!(
        desk.attachment(&customer("karla"), t.id, &hash)
            .await
            .unwrap(),
        data
    );
    // The customer cannot fetch bytes only an internal article carries... but this one is also
    // on the visible first article, so it is theirs; a stranger gets nothing.
    assert!(matches!(
        desk.attachment(&customer("kim"), t.id, &hash).await,
        Err(Error::NotFound(_))
    ));
}

/// Message-IDs are unique across the store.
pub async fn message_ids_unique(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let with_id = |body: &str| {
        let mut m = Message::text(body);
        m.message_id = Some("dup@mail.example".into());
        m
    };
    desk.create_ticket(
        &Actor::System,
        NewTicket::new("Support", "first", Channel::Email, with_id("1")),
    )
    .await
    .unwrap();
    let second = desk
        .create_ticket(
            &Actor::System,
            NewTicket::new("Support", "second", Channel::Email, with_id("2")),
        )
        .await;
    assert_eq!(
        second,
        Err(Error::Store(StoreError::Duplicate(Unique::MessageId(
            "dup@mail.example".into()
        ))))
    );
    let all = store.query(&TicketQuery::default()).await.unwrap();
    assert_eq!(
        all.tickets.len(),
        1,
        "the failed create left nothing behind"
    );
}

/// Only one agent holds a lock; others are refused changes; the holder or an admin releases.
pub async fn lock_is_exclusive(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store).await;
    let t = request(&desk, "karla", "Support", "lock me").await;
    let anna = agent("anna");
    let root = agent("root");
    let locked = desk.lock(&anna, t.id).await.unwrap();
    assert_eq!(types(&locked.events), ["Lock", "OwnerUpdate"]);
    match &locked.ticket.lock {
        Lock::Locked { by, until, .. } => {
            assert_eq!(by, "anna");
            assert_eq!(*until, Some(clock.now_plus(Duration::hours(12))));
        }
        Lock::Unlocked => panic!("not locked"),
    }
    assert_eq!(locked.ticket.owner.as_deref(), Some("anna"));
    // Locking again is a no-op for the holder and refused for others.
    assert!(desk.lock(&anna, t.id).await.unwrap().events.is_empty());
    let refused = Error::Locked {
        number: t.number.clone(),
        by: "anna".into(),
    };
    assert_eq!(desk.lock(&root, t.id).await, Err(refused.clone()));
    for op in [
        Op::SetPriority {
            priority: Priority::HIGHEST,
        },
        Op::Move {
            queue: "Support::Level2".into(),
        },
        Op::SetState {
            state: "open".into(),
            pending_until: None,
        },
    ] {
        assert_eq!(desk.apply(&root, t.id, op).await, Err(refused.clone()));
    }
    assert_eq!(
        desk.reply(&root, t.id, Message::text("me too")).await,
        Err(refused.clone())
    );
    // Colleagues may still add notes (OTRS: notes need no lock).
    desk.note(&agent("chris"), t.id, Message::text("fyi"), false, &[])
        .await
        .unwrap();
    // chris can see but is neither holder nor admin.
    assert_eq!(desk.unlock(&agent("chris"), t.id).await, Err(refused));
    let released = desk.unlock(&root, t.id).await.unwrap();
    assert_eq!(types(&released.events), ["Unlock"]);
    assert_eq!(released.ticket.lock, Lock::Unlocked);
    desk.lock(&root, t.id).await.unwrap();
    desk.unlock(&root, t.id).await.unwrap();
    // bernd sees Support only through a read-only role: no lock for him.
    assert!(matches!(
        desk.lock(&agent("bernd"), t.id).await,
        Err(Error::Denied { .. })
    ));
}

trait NowPlus {
    fn now_plus(&self, d: Duration) -> chrono::DateTime<chrono::Utc>;
}

impl NowPlus for ManualClock {
    fn now_plus(&self, d: Duration) -> chrono::DateTime<chrono::Utc> {
        crate::clock::Clock::now(self) + d
    }
}

/// Answering an unlocked ticket locks it to the answering agent and opens a new ticket.
pub async fn reply_takes_the_lock(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let t = request(&desk, "karla", "Support", "answer me").await;
    let done = desk
        .reply(&agent("anna"), t.id, Message::text("Hello Karla"))
        .await
        .unwrap();
    assert_eq!(
        types(&done.events),
        ["Lock", "OwnerUpdate", "SendAnswer", "StateUpdate"]
    );
    assert_eq!(done.ticket.lock.holder(), Some("anna"));
    assert_eq!(done.ticket.state_type, StateType::Open);
    let articles = store.articles(t.id).await.unwrap();
    let answer = &articles[1];
    assert!(answer.visible_to_customer);
    assert_eq!(answer.to, "karla");
    assert!(answer.subject.contains(&format!("[Ticket#{}]", t.number)));
    assert_eq!(answer.from, "Anna Agent <anna@example.org>");
}

/// Moving needs rw on the source and move_into on the target; a transfer queue hides the
/// ticket from the sender afterwards, and the holder's lock goes when they cannot follow.
pub async fn move_and_transfer_queue(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store).await;
    let anna = agent("anna");
    let t = request(&desk, "karla", "Support", "hand over").await;
    assert!(matches!(
        desk.move_ticket(&anna, t.id, "Finance").await,
        Err(Error::Denied { .. })
    ));
    assert!(matches!(
        desk.move_ticket(&anna, t.id, "Nowhere").await,
        Err(Error::NotFound(_))
    ));
    desk.lock(&anna, t.id).await.unwrap();
    let moved = desk.move_ticket(&anna, t.id, "Transfer").await.unwrap();
    assert_eq!(types(&moved.events), ["Move", "Unlock"]);
    assert_eq!(moved.ticket.queue, "Transfer");
    assert!(matches!(
        desk.ticket(&anna, t.id).await,
        Err(Error::NotFound(_))
    ));
    let anna_view = desk
        .queue_view(&anna, TicketQuery::default())
        .await
        .unwrap();
    assert!(anna_view.tickets.iter().all(|x| x.id != t.id));
    let chris = agent("chris");
    let chris_view = desk
        .queue_view(&chris, TicketQuery::default())
        .await
        .unwrap();
    assert!(chris_view.tickets.iter().any(|x| x.id == t.id));
    // chris works the transfer queue and hands it back into Support (move_into there).
    desk.move_ticket(&chris, t.id, "Support").await.unwrap();
    let history = desk.history(&anna, t.id).await.unwrap();
    let moves: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Move { from, to } => Some((from.as_str(), to.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(moves, [("Support", "Transfer"), ("Transfer", "Support")]);
}

/// Pending states need a time, closing releases the lock, configured transitions hold.
pub async fn state_rules(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store).await;
    let anna = agent("anna");
    let t = request(&desk, "karla", "Support", "states").await;
    assert!(matches!(
        desk.set_state(&anna, t.id, "pending reminder", None).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        desk.set_state(&anna, t.id, "no such state", None).await,
        Err(Error::Invalid(_))
    ));
    let when = clock.now_plus(Duration::days(2));
    let pending = desk
        .set_state(&anna, t.id, "pending reminder", Some(when))
        .await
        .unwrap();
    assert_eq!(pending.ticket.pending_until, Some(when));
    assert_eq!(types(&pending.events), ["StateUpdate", "SetPendingTime"]);
    assert!(matches!(
        desk.set_state(&anna, t.id, "new", None).await,
        Err(Error::Transition { .. })
    ));
    assert!(matches!(
        desk.set_state(&anna, t.id, "merged", None).await,
        Err(Error::Transition { .. })
    ));
    desk.lock(&anna, t.id).await.unwrap();
    let closed = desk
        .set_state(&anna, t.id, "closed successful", None)
        .await
        .unwrap();
    assert_eq!(
        types(&closed.events),
        ["StateUpdate", "SetPendingTime", "Unlock"]
    );
    assert_eq!(closed.ticket.pending_until, None);
    assert_eq!(closed.ticket.lock, Lock::Unlocked);
    // Restrict by configuration: closed tickets may only be reopened.
    let mut config = fixture_config();
    config.customers.clear();
    config
        .transitions
        .insert("closed successful".into(), vec!["open".into()]);
    desk.configure(config).await.unwrap();
    assert!(matches!(
        desk.set_state(&anna, t.id, "removed", None).await,
        Err(Error::Transition { .. })
    ));
    desk.set_state(&anna, t.id, "open", None).await.unwrap();
    // bernd only reads Support.
    assert!(matches!(
        desk.set_state(&agent("bernd"), t.id, "closed successful", None)
            .await,
        Err(Error::Denied { .. })
    ));
}

/// Owner, responsible and priority changes check permissions and the new owner's rights.
pub async fn owner_and_priority(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store).await;
    let anna = agent("anna");
    let t = request(&desk, "karla", "Support", "owners").await;
    assert!(matches!(
        desk.set_owner(&anna, t.id, Some("bernd")).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        desk.set_owner(&anna, t.id, Some("ghost")).await,
        Err(Error::NotFound(_))
    ));
    let owned = desk.set_owner(&anna, t.id, Some("root")).await.unwrap();
    assert_eq!(owned.ticket.owner.as_deref(), Some("root"));
    let op = Op::SetResponsible {
        responsible: Some("anna".into()),
    };
    let resp = desk.apply(&anna, t.id, op).await.unwrap();
    assert_eq!(types(&resp.events), ["ResponsibleUpdate"]);
    let prio = desk
        .set_priority(&anna, t.id, Priority::new(5).unwrap())
        .await
        .unwrap();
    assert_eq!(types(&prio.events), ["PriorityUpdate"]);
    assert!(
        desk.set_priority(&anna, t.id, Priority::new(5).unwrap())
            .await
            .unwrap()
            .events
            .is_empty()
    );
    assert!(matches!(
        desk.set_priority(&agent("chris"), t.id, Priority::LOWEST)
            .await,
        Err(Error::Denied { .. })
    ));
    assert!(Priority::new(0).is_err() && Priority::new(6).is_err());
}

/// A note names agents to notify (in the event) and, by default, opens a new ticket.
pub async fn note_notifies_and_opens(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let t = request(&desk, "karla", "Support", "note").await;
    let noted = desk
        .note(
            &agent("chris"),
            t.id,
            Message::text("@anna look"),
            false,
            &["anna"],
        )
        .await
        .unwrap();
    assert_eq!(noted.ticket.state_type, StateType::Open);
    let EventKind::AddNote {
        notify,
        visible_to_customer,
        ..
    } = &noted.events[0].kind
    else {
        panic!("first event is the note: {:?}", noted.events)
    };
    assert_eq!(
        (notify.as_slice(), *visible_to_customer),
        (&["anna".to_string()][..], false)
    );
    let articles = store.articles(t.id).await.unwrap();
    assert_eq!(articles[1].subject, "note", "subject defaults to the title");
    assert!(matches!(
        desk.note(&agent("chris"), t.id, Message::text("x"), false, &["ghost"])
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        desk.note(&agent("bernd"), t.id, Message::text("x"), false, &[])
            .await,
        Err(Error::Denied { .. })
    ));
    // With the rule off, a note leaves a new ticket new.
    let mut config = fixture_config();
    config.customers.clear();
    config.rules.note_opens_new_ticket = false;
    desk.configure(config).await.unwrap();
    let t2 = request(&desk, "karla", "Support", "quiet note").await;
    let noted = desk
        .note(&agent("anna"), t2.id, Message::text("hm"), false, &[])
        .await
        .unwrap();
    assert_eq!(noted.ticket.state_type, StateType::New);
}

/// Follow-ups: open tickets take them; closed ones reopen, reject or spawn a linked ticket
/// per queue policy.
pub async fn follow_up_policies(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let root = agent("root");
    let karla = customer("karla");
    let close = |t: &Ticket| {
        let id = t.id;
        let root = root.clone();
        let desk = &desk;
        async move {
            desk.set_state(&root, id, "closed successful", None)
                .await
                .unwrap();
        }
    };
    // Reopen.
    let a = request(&desk, "karla", "Support", "reopen").await;
    let first = desk
        .follow_up(&karla, a.id, Message::text("more"), Channel::Web, false)
        .await
        .unwrap();
    assert_eq!(first.action, FollowUpAction::Append);
    assert_eq!(first.committed.ticket.state_type, StateType::New);
    close(&a).await;
    let reopened = desk
        .follow_up(&karla, a.id, Message::text("again"), Channel::Web, false)
        .await
        .unwrap();
    assert_eq!(reopened.action, FollowUpAction::Reopen);
    assert_eq!(reopened.committed.ticket.state_type, StateType::Open);
    // Reject.
    let b = request(&desk, "karla", "Finance", "reject").await;
    close(&b).await;
    let rejected = desk
        .follow_up(&karla, b.id, Message::text("hello?"), Channel::Web, true)
        .await
        .unwrap();
    assert_eq!(rejected.action, FollowUpAction::Reject);
    assert_eq!(
        rejected.committed.ticket.state_type,
        StateType::ClosedSuccessful
    );
    assert_eq!(types(&rejected.committed.events), ["FollowUpRejected"]);
    assert_eq!(store.articles(b.id).await.unwrap().len(), 2);
    // New ticket.
    let c = request(&desk, "karla", "Support::Level2", "new one").await;
    close(&c).await;
    let spawned = desk
        .follow_up(
            &karla,
            c.id,
            Message::text("it is back"),
            Channel::Web,
            false,
        )
        .await
        .unwrap();
    assert_eq!(spawned.action, FollowUpAction::NewTicket);
    let new = spawned.committed.ticket;
    assert_ne!(new.id, c.id);
    assert_eq!(new.customer.as_deref(), Some("karla"));
    assert_eq!(new.queue, "Support::Level2");
    assert!(new.links.iter().any(|l| l.ticket == c.id));
    let old = store.ticket(c.id).await.unwrap().unwrap();
    assert!(old.links.iter().any(|l| l.ticket == new.id));
    assert_eq!(old.state_type, StateType::ClosedSuccessful);
    // A stranger cannot follow up on someone else's ticket; the unknown-sender flag is kept.
    assert!(matches!(
        desk.follow_up(
            &customer("kim"),
            a.id,
            Message::text("x"),
            Channel::Web,
            false
        )
        .await,
        Err(Error::NotFound(_))
    ));
    let flagged = desk
        .follow_up(
            &Actor::System,
            a.id,
            Message::text("who?"),
            Channel::Email,
            true,
        )
        .await
        .unwrap();
    assert!(matches!(
        flagged.committed.events[0].kind,
        EventKind::FollowUp {
            unknown_sender: true,
            ..
        }
    ));
}

/// Merging closes the source as merged; follow-ups to it land on the survivor.
pub async fn merge_forwards_follow_ups(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let anna = agent("anna");
    let a = request(&desk, "karla", "Support", "dup 1").await;
    let b = request(&desk, "karla", "Support", "dup 2").await;
    let c = request(&desk, "karla", "Support", "dup 3").await;
    let merged = desk.merge(&anna, a.id, b.id).await.unwrap();
    assert_eq!(merged.ticket.state_type, StateType::Merged);
    assert_eq!(merged.ticket.merged_into, Some(b.id));
    let survivor = store.ticket(b.id).await.unwrap().unwrap();
    assert!(
        store
            .history(b.id)
            .await
            .unwrap()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Merged { .. }))
    );
    assert_eq!(survivor.version, 2);
    // Chains are followed: b into c, then mail for a goes to c.
    desk.merge(&anna, b.id, c.id).await.unwrap();
    let fwd = desk
        .follow_up(
            &customer("karla"),
            a.id,
            Message::text("hi"),
            Channel::Web,
            false,
        )
        .await
        .unwrap();
    assert_eq!(fwd.committed.ticket.id, c.id);
    assert!(matches!(
        desk.merge(&anna, c.id, c.id).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        desk.merge(&anna, a.id, c.id).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        desk.lock(&anna, a.id).await,
        Err(Error::Invalid(_))
    ));
}

/// Splitting an article creates a linked child ticket; links are recorded on both sides.
pub async fn split_and_link(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let root = agent("root");
    let t = request(&desk, "karla", "Support", "two things").await;
    let first = store.articles(t.id).await.unwrap()[0].clone();
    let child = desk
        .split(&root, t.id, first.id, "Finance", Some("the money part"))
        .await
        .unwrap()
        .ticket;
    assert_eq!(child.title, "the money part");
    assert_eq!(child.queue, "Finance");
    assert_eq!(child.customer.as_deref(), Some("karla"));
    assert!(
        child
            .links
            .iter()
            .any(|l| l.ticket == t.id && l.kind == LinkKind::Parent)
    );
    let parent = store.ticket(t.id).await.unwrap().unwrap();
    assert!(
        parent
            .links
            .iter()
            .any(|l| l.ticket == child.id && l.kind == LinkKind::Child)
    );
    let copy = &store.articles(child.id).await.unwrap()[0];
    assert_eq!(copy.body, first.body);
    assert_eq!(copy.message_id, None);
    // anna may not create in Finance.
    assert!(matches!(
        desk.split(&agent("anna"), t.id, first.id, "Finance", None)
            .await,
        Err(Error::Denied { .. })
    ));
    let other = request(&desk, "kurt", "Support", "related").await;
    let linked = desk
        .link(&root, t.id, other.id, LinkKind::Normal)
        .await
        .unwrap();
    assert_eq!(types(&linked.events), ["TicketLinkAdd", "TicketLinkAdd"]);
    assert!(
        desk.link(&root, t.id, other.id, LinkKind::Normal)
            .await
            .unwrap()
            .events
            .is_empty()
    );
}

/// Watching and archiving; archived tickets leave the default view.
pub async fn watch_and_archive(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store).await;
    let anna = agent("anna");
    let t = request(&desk, "karla", "Support", "watch").await;
    let w = desk.apply(&anna, t.id, Op::Watch).await.unwrap();
    assert!(w.ticket.watchers.contains("anna"));
    let u = desk.apply(&anna, t.id, Op::Unwatch).await.unwrap();
    assert!(u.ticket.watchers.is_empty());
    desk.apply(&anna, t.id, Op::Archive { archived: true })
        .await
        .unwrap();
    let view = desk
        .queue_view(&anna, TicketQuery::default())
        .await
        .unwrap();
    assert!(view.tickets.is_empty());
    let archived = TicketQuery {
        archived: Some(true),
        ..TicketQuery::default()
    };
    assert_eq!(
        desk.queue_view(&anna, archived)
            .await
            .unwrap()
            .tickets
            .len(),
        1
    );
}

/// Customers see their own and (if configured) their company's tickets, never internal notes.
pub async fn customer_visibility(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store).await;
    let karla_t = request(&desk, "karla", "Support", "karla's").await;
    let kurt_t = request(&desk, "kurt", "Finance", "kurt's").await;
    let kim_t = request(&desk, "kim", "Support", "kim's").await;
    desk.note(
        &agent("anna"),
        karla_t.id,
        Message::text("internal"),
        false,
        &[],
    )
    .await
    .unwrap();
    desk.note(
        &agent("anna"),
        karla_t.id,
        Message::text("public"),
        true,
        &[],
    )
    .await
    .unwrap();
    let view = |who: &'static str| {
        let desk = &desk;
        async move {
            desk.queue_view(&customer(who), TicketQuery::default())
                .await
                .unwrap()
                .tickets
                .into_iter()
                .map(|t| t.id)
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(view("karla").await, BTreeSet::from([karla_t.id, kurt_t.id]));
    assert_eq!(view("kim").await, BTreeSet::from([kim_t.id]));
    assert!(matches!(
        desk.ticket(&customer("kim"), karla_t.id).await,
        Err(Error::NotFound(_))
    ));
    let seen: Vec<_> = desk
        .articles(&customer("kurt"), karla_t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.body)
        .collect();
    assert_eq!(seen, ["karla's?", "public"]);
    let history = desk.history(&customer("karla"), karla_t.id).await.unwrap();
    assert_eq!(
        types(&history),
        ["NewTicket", "WebRequestCustomer", "StateUpdate", "AddNote"]
    );
    assert!(matches!(
        desk.history(&customer("kim"), karla_t.id).await,
        Err(Error::NotFound(_))
    ));
}

/// Keyset pagination returns every visible ticket exactly once, in priority-then-age order,
/// with filters applied inside the query.
pub async fn queue_view_pages(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store).await;
    let queues = ["Support", "Support::Level2", "Finance", "Transfer"];
    let root = agent("root");
    for i in 0..60u8 {
        clock.advance(Duration::minutes(1));
        let mut input = NewTicket::new(
            queues[usize::from(i) % 4],
            format!("ticket {i}"),
            Channel::Phone,
            Message::text("ring"),
        );
        input.priority = Some(Priority::new(i % 5 + 1).unwrap());
        let t = desk.create_ticket(&root, input).await.unwrap().ticket;
        if i % 3 == 0 {
            desk.lock(&root, t.id).await.unwrap();
        }
        if i % 7 == 0 {
            desk.set_state(&root, t.id, "closed successful", None)
                .await
                .unwrap();
        }
    }
    for (who, query) in [
        ("root", TicketQuery::default()),
        ("anna", TicketQuery::default()),
        ("bernd", TicketQuery::default()),
        (
            "root",
            TicketQuery {
                state_types: Some(BTreeSet::from([StateType::New, StateType::Open])),
                locked: Some(false),
                ..TicketQuery::default()
            },
        ),
        (
            "anna",
            TicketQuery {
                queues: Some(BTreeSet::from([
                    "Support::Level2".to_string(),
                    "Finance".into(),
                ])),
                owner: Some("root".into()),
                ..TicketQuery::default()
            },
        ),
    ] {
        let actor = agent(who);
        let config = desk.config().await.unwrap();
        let viewer = desk.viewer(&actor).await.unwrap();
        let all = desk
            .queue_view(
                &Actor::System,
                TicketQuery {
                    limit: 1000,
                    queues: None,
                    ..query.clone()
                },
            )
            .await
            .unwrap()
            .tickets;
        let expected: Vec<_> = all
            .into_iter()
            .filter(|t| viewer.sees(&config, t) && query.matches(t))
            .map(|t| t.id)
            .collect();
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = desk
                .queue_view(
                    &actor,
                    TicketQuery {
                        after,
                        limit: 7,
                        ..query.clone()
                    },
                )
                .await
                .unwrap();
            assert!(page.tickets.len() <= 7);
            for t in &page.tickets {
                assert!(!got.contains(&t.id), "ticket {} on two pages", t.number);
                got.push(t.id);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "{who} {query:?}");
        assert!(!expected.is_empty() || who == "anna");
    }
}

/// 32 tasks adding notes to one ticket at once: every note lands, none overwrites another.
pub async fn contention_loses_no_update(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let desk = Arc::new(desk);
    let t = request(&desk, "karla", "Support", "busy").await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let desk = desk.clone();
        tasks.push(tokio::spawn(async move {
            let who = if i % 2 == 0 { "anna" } else { "root" };
            let op = if i % 4 == 1 {
                Op::SetPriority {
                    priority: Priority::new(i % 5 + 1).unwrap(),
                }
            } else {
                Op::Note {
                    article: desk.new_article_id(),
                    message: Message::text(format!("note {i}")),
                    visible_to_customer: false,
                    notify: Vec::new(),
                }
            };
            desk.apply(&agent(who), t.id, op).await.unwrap()
        }));
    }
    let mut committed_events = 0;
    for task in tasks {
        committed_events += acts(&task.await.unwrap().events).count();
    }
    let after = store.ticket(t.id).await.unwrap().unwrap();
    let history = store.history(t.id).await.unwrap();
    assert_eq!(acts(&history).count(), 2 + committed_events);
    let notes = store.articles(t.id).await.unwrap().len();
    assert_eq!(notes, 1 + 24);
    let commits = history
        .iter()
        .skip(2)
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::AddNote { .. } | EventKind::PriorityUpdate { .. }
            )
        })
        .count() as u64;
    assert_eq!(after.version, 1 + commits);
}

/// Two changes computed from the same version: the second commit is a conflict and changes
/// nothing (the compare-and-swap every concurrency guarantee rests on).
pub async fn stale_write_conflicts(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let t = request(&desk, "karla", "Support", "stale").await;
    let config = desk.config().await.unwrap();
    let (anna, root) = (agent("anna"), agent("root"));
    let ctx = |actor| crate::rules::Ctx {
        config: &config,
        actor,
        customer: None,
        now: desk.now(),
    };
    let first = crate::rules::apply(ctx(&anna), &t, &Op::Lock).unwrap();
    let second = crate::rules::apply(ctx(&root), &t, &Op::Lock).unwrap();
    store.commit(first).await.unwrap();
    assert!(matches!(
        store.commit(second).await,
        Err(StoreError::Conflict(_))
    ));
    let stored = store.ticket(t.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.lock.holder()), (2, Some("anna")));
    assert_eq!(acts(&store.history(t.id).await.unwrap()).count(), 4);
    // A write for a ticket that does not exist is not a create.
    let mut ghost = crate::rules::apply(ctx(&anna), &t, &Op::Unlock).unwrap();
    ghost.writes[0].ticket.id = crate::ticket::TicketId(uuid::Uuid::from_u128(7));
    assert!(store.commit(ghost).await.is_err());
}

/// 50 agents-tasks race for one lock: exactly one wins.
pub async fn lock_race_has_one_winner(store: Arc<dyn Store>) {
    let (a, _) = fixture(store.clone()).await;
    let (b, _) = desk_with(store.clone(), fixture_config(), 9).await;
    let desks = Arc::new([a, b]);
    let t = request(&desks[0], "karla", "Support", "race").await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let desks = desks.clone();
        tasks.push(tokio::spawn(async move {
            let who = if i % 2 == 0 { "anna" } else { "root" };
            (who, desks[i % 2].lock(&agent(who), t.id).await)
        }));
    }
    let mut winners = BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            (who, Ok(c)) if !c.events.is_empty() => {
                winners.insert(who);
            }
            (_, Ok(_)) | (_, Err(Error::Locked { .. })) => {}
            (_, Err(e)) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let locks = store
        .history(t.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Lock { .. }))
        .count();
    assert_eq!(locks, 1);
}

/// A consumer paging through `events_since` sees every event once, in order, and its cursor
/// survives in the store.
pub async fn events_seen_once_in_order(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let desk = Arc::new(desk);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let desk = desk.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..5 {
                let t = request(&desk, "karla", "Support", &format!("e{i}{n}")).await;
                desk.lock(&agent("anna"), t.id).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut cursor = store.cursor("bot").await.unwrap();
    assert_eq!(cursor, 0);
    let mut seen = Vec::new();
    loop {
        let batch = store.events_since(cursor, 9).await.unwrap();
        if batch.is_empty() {
            break;
        }
        cursor = batch.last().unwrap().seq;
        seen.extend(batch);
        store.save_cursor("bot", cursor).await.unwrap();
    }
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seen.len() as u64).collect::<Vec<_>>());
    assert_eq!(acts(&seen).count(), 8 * 5 * 4);
    assert_eq!(store.cursor("bot").await.unwrap(), cursor);
    assert_eq!(store.last_seq().await.unwrap(), cursor);
    assert!(store.events_since(cursor, 10).await.unwrap().is_empty());
    assert!(store.events_since(u64::MAX, 10).await.unwrap().is_empty());
}

/// A batch commits every independent change it can; a conflict fails only its own.
pub async fn batch_commit_isolates_failures(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let t = request(&desk, "karla", "Support", "batch").await;
    let config = desk.config().await.unwrap();
    let anna = agent("anna");
    let ctx = crate::rules::Ctx {
        config: &config,
        actor: &anna,
        customer: None,
        now: desk.now(),
    };
    let lock = crate::rules::apply(ctx, &t, &Op::Lock).unwrap();
    let stale = crate::rules::apply(
        ctx,
        &t,
        &Op::SetPriority {
            priority: Priority::HIGHEST,
        },
    )
    .unwrap();
    let mut creates = Vec::new();
    for i in 0..3u8 {
        let fresh = crate::rules::Fresh {
            ticket: crate::ticket::TicketId(uuid::Uuid::from_u128(u128::from(i) + 1)),
            number: config
                .numbers
                .format(desk.now().date_naive(), 900 + u64::from(i), 0),
            article: crate::article::ArticleId(uuid::Uuid::from_u128(u128::from(i) + 100)),
        };
        let input = NewTicket::new(
            "Support",
            format!("bulk {i}"),
            Channel::Email,
            Message::text("x"),
        );
        creates.push(crate::rules::create(ctx, &input, &fresh).unwrap());
    }
    let mut batch: Vec<Change> = vec![creates[0].clone(), lock, creates[1].clone(), stale];
    batch.push(creates[2].clone());
    batch.push(creates[0].clone());
    let results = store.commit_batch(batch).await.unwrap();
    assert_eq!(results.len(), 6);
    assert!(results[0].is_ok() && results[1].is_ok() && results[2].is_ok() && results[4].is_ok());
    assert!(matches!(results[3], Err(StoreError::Conflict(_))));
    assert!(matches!(results[5], Err(StoreError::Duplicate(_))));
    let all = store.query(&TicketQuery::default()).await.unwrap();
    assert_eq!(all.tickets.len(), 4);
    let locked = store.ticket(t.id).await.unwrap().unwrap();
    assert_eq!(locked.lock.holder(), Some("anna"));
    assert_eq!(locked.priority, Priority::NORMAL);
    let seqs: Vec<u64> = store
        .events_since(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gaps");
}

/// Every change appends history; a ticket's history is its events in log order.
pub async fn history_complete_and_ordered(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let anna = agent("anna");
    let t = request(&desk, "karla", "Support", "history").await;
    let other = request(&desk, "kurt", "Support", "noise").await;
    let mut expected = vec!["NewTicket", "WebRequestCustomer"];
    for (op, types_) in [
        (Op::Lock, &["Lock", "OwnerUpdate"][..]),
        (
            Op::SetPriority {
                priority: Priority::new(2).unwrap(),
            },
            &["PriorityUpdate"][..],
        ),
        (
            Op::SetTitle {
                title: "History!".into(),
            },
            &["TitleUpdate"][..],
        ),
        (
            Op::Move {
                queue: "Support::Level2".into(),
            },
            &["Move"][..],
        ),
        (Op::Unlock, &["Unlock"][..]),
    ] {
        clock.advance(Duration::seconds(30));
        desk.apply(&anna, t.id, op).await.unwrap();
        desk.lock(&anna, other.id).await.ok();
        expected.extend(types_);
    }
    let history = store.history(t.id).await.unwrap();
    assert_eq!(types(&history), expected);
    assert!(
        history
            .windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );
    assert!(
        history
            .iter()
            .all(|e| e.ticket == t.id && e.number == t.number)
    );
    let log = store.events_since(0, 10_000).await.unwrap();
    let from_log: Vec<_> = log.into_iter().filter(|e| e.ticket == t.id).collect();
    assert_eq!(from_log, history);
}

fn hours(h: i64) -> Duration {
    Duration::hours(h)
}

fn kinds(events: &[crate::event::Event]) -> Vec<&'static str> {
    types(events)
}

/// A lock expires after the queue's unlock timeout unless the holder acts; the system releases
/// it once, and only for new or open tickets.
pub async fn lock_expires(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let anna = agent("anna");
    let t0 = crate::clock::Clock::now(&clock);
    let t = request(&desk, "karla", "Support", "expire").await;
    desk.lock(&anna, t.id).await.unwrap();
    assert_eq!(
        store
            .next_due(crate::ticket::DueKind::LockExpiry)
            .await
            .unwrap(),
        Some(t0 + hours(12))
    );
    assert_eq!(
        desk.tick(t0 + hours(12) - Duration::seconds(1))
            .await
            .unwrap()
            .unlocked,
        0
    );
    // The holder acting (an agent article) restarts the timer.
    clock.set(t0 + hours(6));
    desk.note(&anna, t.id, Message::text("working on it"), false, &[])
        .await
        .unwrap();
    assert_eq!(desk.tick(t0 + hours(12)).await.unwrap().unlocked, 0);
    let report = desk.tick(t0 + hours(18)).await.unwrap();
    assert_eq!((report.unlocked, report.tickets), (1, 1));
    assert_eq!(desk.tick(t0 + hours(18)).await.unwrap(), Default::default());
    let history = store.history(t.id).await.unwrap();
    let unlock = acts(&history).next_back().unwrap();
    assert_eq!(unlock.kind.history_type(), "Unlock");
    assert_eq!(unlock.actor, Actor::System);
    let after = store.ticket(t.id).await.unwrap().unwrap();
    assert_eq!(after.lock, Lock::Unlocked);
    assert_eq!(after.owner.as_deref(), Some("anna"), "the owner stays");
    // A pending ticket's lock is not released.
    desk.lock(&anna, t.id).await.unwrap();
    desk.set_state(&anna, t.id, "pending reminder", Some(t0 + hours(100)))
        .await
        .unwrap();
    assert_eq!(desk.tick(t0 + hours(40)).await.unwrap().unlocked, 0);
    assert!(
        store
            .ticket(t.id)
            .await
            .unwrap()
            .unwrap()
            .lock
            .holder()
            .is_some()
    );
}

/// In a queue with a business calendar, the unlock timeout counts working hours.
pub async fn lock_expires_in_working_time(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let bernd = agent("bernd");
    let t0 = crate::clock::Clock::now(&clock);
    let t = request(&desk, "karla", "Finance", "calendar lock").await;
    let locked = desk.lock(&bernd, t.id).await.unwrap().ticket;
    // Monday 09:00 Berlin + 8 working hours = Monday 17:00 Berlin (16:00 UTC).
    assert_eq!(t.due(crate::ticket::DueKind::LockExpiry), None);
    let until = locked.due(crate::ticket::DueKind::LockExpiry).unwrap();
    assert_eq!(until, t0 + hours(8));
    clock.set(t0 + hours(7));
    desk.note(&bernd, t.id, Message::text("still here"), false, &[])
        .await
        .unwrap();
    // Restarted Monday 16:00 Berlin: 1 hour Monday, 7 more on Tuesday until 16:00 Berlin.
    let refreshed = store.ticket(t.id).await.unwrap().unwrap();
    assert_eq!(
        refreshed.due(crate::ticket::DueKind::LockExpiry),
        Some(t0 + hours(24 + 7))
    );
    assert_eq!(desk.tick(t0 + hours(30)).await.unwrap().unlocked, 0);
    assert_eq!(desk.tick(t0 + hours(31)).await.unwrap().unlocked, 1);
}

/// A pending reminder reminds the owner once; pending auto-close closes when due.
pub async fn pending_reminder_and_auto_close(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let anna = agent("anna");
    let t0 = crate::clock::Clock::now(&clock);
    let a = request(&desk, "karla", "Support", "remind me").await;
    desk.lock(&anna, a.id).await.unwrap();
    desk.set_state(&anna, a.id, "pending reminder", Some(t0 + hours(5)))
        .await
        .unwrap();
    let b = request(&desk, "kurt", "Support", "close me").await;
    desk.set_state(&anna, b.id, "pending auto close+", Some(t0 + hours(6)))
        .await
        .unwrap();
    let c = request(&desk, "kim", "Support", "close me badly").await;
    desk.set_state(&anna, c.id, "pending auto close-", Some(t0 + hours(6)))
        .await
        .unwrap();
    // All three are pending: escalation clocks paused, a's lock not expiring.
    assert_eq!(desk.next_due().await.unwrap(), Some(t0 + hours(5)));
    assert_eq!(
        store
            .next_due(crate::ticket::DueKind::Pending)
            .await
            .unwrap(),
        Some(t0 + hours(5))
    );
    assert_eq!(desk.tick(t0 + hours(4)).await.unwrap().reminders, 0);
    let report = desk.tick(t0 + hours(5)).await.unwrap();
    assert_eq!((report.reminders, report.closed), (1, 0));
    let history = store.history(a.id).await.unwrap();
    let reminder = acts(&history).next_back().unwrap().clone();
    assert_eq!(
        reminder.kind,
        EventKind::Reminder {
            owner: Some("anna".into())
        }
    );
    assert_eq!(reminder.actor, Actor::System);
    assert_eq!(desk.tick(t0 + hours(5)).await.unwrap().reminders, 0, "once");
    let a_after = store.ticket(a.id).await.unwrap().unwrap();
    assert_eq!(a_after.state_type, StateType::PendingReminder);
    let report = desk.tick(t0 + hours(7)).await.unwrap();
    assert_eq!((report.reminders, report.closed), (0, 2));
    let b_after = store.ticket(b.id).await.unwrap().unwrap();
    assert_eq!(b_after.state, "closed successful");
    assert_eq!(b_after.pending_until, None);
    assert_eq!(
        store.ticket(c.id).await.unwrap().unwrap().state,
        "closed unsuccessful"
    );
    // A new pending time re-arms the reminder; with reminder_reopens the ticket reopens.
    let mut config = fixture_config();
    config.rules.reminder_reopens = true;
    desk.configure(config).await.unwrap();
    clock.set(t0 + hours(8));
    desk.set_state(&anna, a.id, "pending reminder", Some(t0 + hours(9)))
        .await
        .unwrap();
    let report = desk.tick(t0 + hours(9)).await.unwrap();
    assert_eq!(report.reminders, 1);
    let reopened = store.ticket(a.id).await.unwrap().unwrap();
    assert_eq!(reopened.state_type, StateType::Open);
}

/// First response, update and solution deadlines warn at 80 % and escalate at 100 %, each
/// exactly once, however often tick runs; answers and closing meet them.
pub async fn escalation_warns_and_breaches_once(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let t0 = crate::clock::Clock::now(&clock);
    let t = request(&desk, "karla", "Support", "escalate").await;
    let e = &t.escalation;
    let fr = e.first_response.as_ref().unwrap();
    assert_eq!(
        (fr.due, fr.warn_at),
        (t0 + hours(2), t0 + Duration::minutes(96))
    );
    assert_eq!(e.update.as_ref().unwrap().due, t0 + hours(4));
    assert_eq!(e.solution.as_ref().unwrap().due, t0 + hours(24));
    assert_eq!(e.due(), Some(t0 + hours(2)));
    let mut warnings = 0;
    let mut escalations = 0;
    let mut now = t0;
    while now <= t0 + hours(30) {
        for _ in 0..2 {
            let r = desk.tick(now).await.unwrap();
            warnings += r.warnings;
            escalations += r.escalations;
        }
        now += Duration::minutes(17);
    }
    assert_eq!((warnings, escalations), (3, 3));
    let history = store.history(t.id).await.unwrap();
    let esc: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::EscalationWarning { deadline, due } => Some((*deadline, *due, false)),
            EventKind::Escalation { deadline, due } => Some((*deadline, *due, true)),
            _ => None,
        })
        .collect();
    use crate::escalation::DeadlineKind::{FirstResponse, Solution, Update};
    assert_eq!(
        esc,
        [
            (FirstResponse, t0 + hours(2), false),
            (FirstResponse, t0 + hours(2), true),
            (Update, t0 + hours(4), false),
            (Update, t0 + hours(4), true),
            (Solution, t0 + hours(24), false),
            (Solution, t0 + hours(24), true),
        ]
    );
    assert!(
        history
            .iter()
            .filter(|e| e.kind.history_type().starts_with("Escalation"))
            .all(|e| e.actor == Actor::System)
    );
    let escalated = store.ticket(t.id).await.unwrap().unwrap();
    assert!(escalated.escalation.escalated());
    assert_eq!(escalated.due(crate::ticket::DueKind::Escalation), None);
    // An answer meets the first response and restarts the update clock.
    let u = request(&desk, "kurt", "Support", "answered").await;
    clock.set(t0 + hours(1));
    let answered = desk
        .reply(&agent("anna"), u.id, Message::text("on it"))
        .await
        .unwrap()
        .ticket;
    assert_eq!(answered.escalation.first_response, None);
    assert_eq!(answered.escalation.first_response_at, Some(t0 + hours(1)));
    assert_eq!(
        answered.escalation.update.as_ref().unwrap().due,
        t0 + hours(5)
    );
    // A customer follow-up restarts it again; closing meets everything.
    clock.set(t0 + hours(2));
    let followed = desk
        .follow_up(
            &customer("kurt"),
            u.id,
            Message::text("and?"),
            Channel::Web,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        followed
            .committed
            .ticket
            .escalation
            .update
            .as_ref()
            .unwrap()
            .due,
        t0 + hours(6)
    );
    let closed = desk
        .set_state(&agent("anna"), u.id, "closed successful", None)
        .await
        .unwrap()
        .ticket;
    assert_eq!(closed.escalation.due(), None);
    assert_eq!(closed.due(crate::ticket::DueKind::Escalation), None);
    // Reopening starts update and solution again (the first response stays met).
    clock.set(t0 + hours(3));
    let reopened = desk
        .follow_up(
            &customer("kurt"),
            u.id,
            Message::text("again"),
            Channel::Web,
            false,
        )
        .await
        .unwrap()
        .committed
        .ticket;
    assert_eq!(reopened.escalation.first_response, None);
    assert_eq!(
        reopened.escalation.solution.as_ref().unwrap().due,
        t0 + hours(27)
    );
}

/// Pending states pause the clocks; leaving them resumes with the time that was left.
pub async fn escalation_pauses_while_pending(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let anna = agent("anna");
    let t0 = crate::clock::Clock::now(&clock);
    let t = request(&desk, "karla", "Support", "pause").await;
    clock.set(t0 + hours(1));
    let paused = desk
        .set_state(&anna, t.id, "pending reminder", Some(t0 + hours(100)))
        .await
        .unwrap()
        .ticket;
    assert_eq!(paused.escalation.due(), None);
    assert_eq!(paused.due(crate::ticket::DueKind::Escalation), None);
    assert_eq!(desk.tick(t0 + hours(50)).await.unwrap().escalations, 0);
    clock.set(t0 + hours(10));
    let resumed = desk
        .set_state(&anna, t.id, "open", None)
        .await
        .unwrap()
        .ticket;
    // One of two hours of first response was used; 23 of 24 solution hours are left.
    let e = &resumed.escalation;
    assert_eq!(e.first_response.as_ref().unwrap().due, t0 + hours(11));
    assert_eq!(e.solution.as_ref().unwrap().due, t0 + hours(10 + 23));
    assert_eq!(e.update.as_ref().unwrap().due, t0 + hours(13));
    // Pause again but configure pending states not to pause: the clocks keep running.
    let mut config = fixture_config();
    config.escalation.pause_in.clear();
    desk.configure(config).await.unwrap();
    let running = desk
        .set_state(&anna, t.id, "pending reminder", Some(t0 + hours(100)))
        .await
        .unwrap()
        .ticket;
    assert_eq!(running.escalation.due(), Some(t0 + hours(11)));
}

/// Moving recomputes deadlines for the new queue, counting the time already used.
pub async fn move_recomputes_escalation(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let root = agent("root");
    let t0 = crate::clock::Clock::now(&clock);
    let t = request(&desk, "karla", "Support", "move me").await;
    clock.set(t0 + hours(1));
    let moved = desk
        .move_ticket(&root, t.id, "Finance")
        .await
        .unwrap()
        .ticket;
    let e = &moved.escalation;
    // Finance: 4h first response in office hours, 1h used: Monday 10:00 + 3h = 13:00 Berlin.
    assert_eq!(e.first_response.as_ref().unwrap().due, t0 + hours(4));
    // Finance has no update target.
    assert_eq!(e.update, None);
    // "2d" is 48 working hours, 1 used: from Monday 10:00 Berlin, 7 + 4 × 8 hours to Friday
    // evening, the last 8 on the next Monday, until 17:00 Berlin.
    assert_eq!(
        e.solution.as_ref().unwrap().due,
        t0 + Duration::days(7) + hours(8)
    );
    let back = desk
        .move_ticket(&root, t.id, "Transfer")
        .await
        .unwrap()
        .ticket;
    assert_eq!(back.escalation.due(), None, "Transfer promises nothing");
}

/// One tick handles everything due, across batches, and touches nothing else.
pub async fn tick_is_bounded_and_complete(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    // Batches of 16, so each tick below needs several.
    let desk = desk.with_tick_batch(16);
    let root = agent("root");
    let t0 = crate::clock::Clock::now(&clock);
    let mut due = Vec::new();
    for i in 0..300 {
        let mut input = NewTicket::new(
            "Transfer",
            format!("bulk {i}"),
            Channel::Phone,
            Message::text("x"),
        );
        input.customer = Some("kim".into());
        let t = desk.create_ticket(&root, input).await.unwrap().ticket;
        if i % 3 == 0 {
            desk.set_state(&root, t.id, "pending auto close-", Some(t0 + hours(1)))
                .await
                .unwrap();
            due.push(t.id);
        } else {
            desk.set_state(&root, t.id, "pending auto close-", Some(t0 + hours(5)))
                .await
                .unwrap();
        }
    }
    assert_eq!(
        store
            .due(crate::ticket::DueKind::Pending, t0 + hours(1), 7)
            .await
            .unwrap()
            .len(),
        7
    );
    let report = desk.tick(t0 + hours(2)).await.unwrap();
    assert_eq!((report.closed, report.tickets), (100, 100));
    for id in due {
        assert_eq!(
            store.ticket(id).await.unwrap().unwrap().state_type,
            StateType::ClosedUnsuccessful
        );
    }
    assert_eq!(desk.next_due().await.unwrap(), Some(t0 + hours(5)));
    assert_eq!(desk.tick(t0 + hours(6)).await.unwrap().closed, 200);
    assert_eq!(desk.next_due().await.unwrap(), None);
    assert!(
        store
            .due(crate::ticket::DueKind::Pending, t0 + hours(1000), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two desks (processes) ticking the same store at once: nothing is closed or reported twice.
pub async fn concurrent_ticks_do_not_double(store: Arc<dyn Store>) {
    let (a, clock) = fixture(store.clone()).await;
    let (b, _) = desk_with(store.clone(), fixture_config(), 11).await;
    let root = agent("root");
    let t0 = crate::clock::Clock::now(&clock);
    for i in 0..120 {
        let t = request(&a, "karla", "Support", &format!("race {i}")).await;
        if i % 2 == 0 {
            a.lock(&root, t.id).await.unwrap();
        } else {
            a.set_state(&root, t.id, "pending auto close+", Some(t0 + hours(1)))
                .await
                .unwrap();
        }
    }
    let desks = Arc::new([a, b]);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let desks = desks.clone();
        tasks.push(tokio::spawn(async move {
            desks[i % 2].tick(t0 + hours(13)).await.unwrap()
        }));
    }
    let mut total = crate::desk::TickReport::default();
    for t in tasks {
        let r = t.await.unwrap();
        total.unlocked += r.unlocked;
        total.closed += r.closed;
        total.warnings += r.warnings;
        total.escalations += r.escalations;
    }
    assert_eq!((total.unlocked, total.closed), (60, 60));
    let log = store.events_since(0, usize::MAX).await.unwrap();
    let count = |name: &str| log.iter().filter(|e| e.kind.history_type() == name).count();
    assert_eq!(count("Unlock"), 60);
    assert_eq!(count("Escalation"), total.escalations);
    assert_eq!(count("EscalationWarning"), total.warnings);
    // Locked tickets: first response (2h) and update (4h) breached; the pending ones paused.
    assert_eq!(total.escalations, 120);
    let _ = kinds(&log);
}

/// Sign-in account documents are versioned with compare-and-swap and read back whole; the
/// configuration's version is readable on its own.
pub async fn accounts_are_versioned(store: Arc<dyn Store>) {
    use crate::account::{Account, ApiToken, Holder};
    assert_eq!(store.account("anna").await.unwrap(), None);
    assert_eq!(store.config_version().await.unwrap(), 0);
    let mut anna = Account::new("anna", Some(Holder::Agent));
    anna.password = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into());
    assert_eq!(store.save_account(&anna, 0).await.unwrap(), 1);
    assert!(matches!(
        store.save_account(&anna, 0).await,
        Err(StoreError::Conflict(_))
    ));
    anna.failed(super::epoch());
    anna.refused_until = Some(super::epoch() + Duration::seconds(90));
    anna.tokens.push(ApiToken {
        name: "irc-bot ünïcode".into(),
        hash: "ab".repeat(32),
        created: super::epoch(),
        expires: Some(super::epoch() + Duration::days(90)),
        last_used: None,
        session: false,
    });
    assert_eq!(store.save_account(&anna, 1).await.unwrap(), 2);
    assert!(matches!(
        store.save_account(&anna, 1).await,
        Err(StoreError::Conflict(_))
    ));
    let stored = store.account("anna").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.account, anna);
    // Logins are told apart exactly, and a nobody's failures are a document too.
    assert_eq!(store.account("Anna").await.unwrap(), None);
    let mut nobody = Account::new("nobody", None);
    nobody.failed(super::epoch());
    assert_eq!(store.save_account(&nobody, 0).await.unwrap(), 1);
    assert_eq!(
        store.account("nobody").await.unwrap().unwrap().account,
        nobody
    );

    store.save_config(&fixture_config(), 0).await.unwrap();
    store.save_config(&fixture_config(), 1).await.unwrap();
    assert_eq!(store.config_version().await.unwrap(), 2);
}

/// Passwords sign in as their holder; an unknown login and a wrong password are one error;
/// after five failures the login is refused for a growing time that every desk on the store
/// honours, and a success resets it.
pub async fn sign_in_and_throttle(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    // A second desk on the same store: another process.
    let (other, _) = fixture(store.clone()).await;
    let other = other.with_clock(Arc::new(clock.clone()));
    let system = Actor::System;
    desk.set_password(&system, &agent("anna"), "correct horse battery")
        .await
        .unwrap();
    desk.set_password(&system, &customer("kim"), "kims secret")
        .await
        .unwrap();
    assert_eq!(
        desk.sign_in("anna", "correct horse battery").await.unwrap(),
        agent("anna")
    );
    assert_eq!(
        other.sign_in("kim", "kims secret").await.unwrap(),
        customer("kim")
    );
    // The stored document holds a hash, never the password.
    let stored = store.account("anna").await.unwrap().unwrap().account;
    assert!(
        stored
            .password
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$")
    );
    assert!(!format!("{stored:?}").contains("correct horse"));

    assert_eq!(
        desk.sign_in("anna", "wrong").await.unwrap_err(),
        Error::SignIn
    );
    assert_eq!(
        desk.sign_in("nobody", "wrong").await.unwrap_err(),
        Error::SignIn
    );
    assert_eq!(desk.sign_in("", "").await.unwrap_err(), Error::SignIn);
    // Too short to be anyone's password, and too long to hash: the same answer.
    assert_eq!(
        desk.sign_in("anna", &"x".repeat(5000)).await.unwrap_err(),
        Error::SignIn
    );
    // Failures from two processes add up: 2 above, 3 more makes 5.
    other.sign_in("anna", "wrong").await.unwrap_err();
    desk.sign_in("anna", "wrong").await.unwrap_err();
    other.sign_in("anna", "wrong").await.unwrap_err();
    let refused = desk
        .sign_in("anna", "correct horse battery")
        .await
        .unwrap_err();
    let Error::SignInRefused { until } = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert_eq!(until, clock.now() + Duration::seconds(30));
    assert!(matches!(
        other.sign_in("anna", "correct horse battery").await,
        Err(Error::SignInRefused { .. })
    ));
    // Unknown logins are throttled alike, so throttling does not reveal who exists.
    for _ in 0..5 {
        desk.sign_in("nobody", "guess").await.unwrap_err();
    }
    assert!(matches!(
        desk.sign_in("nobody", "guess").await,
        Err(Error::SignInRefused { .. })
    ));
    // After the wait one more failure doubles it; a success then resets the count.
    clock.advance(Duration::seconds(31));
    desk.sign_in("anna", "wrong").await.unwrap_err();
    let Err(Error::SignInRefused { until }) = desk.sign_in("anna", "wrong").await else {
        panic!("expected a refusal");
    };
    assert_eq!(until, clock.now() + Duration::seconds(60));
    clock.advance(Duration::seconds(61));
    assert_eq!(
        other
            .sign_in("anna", "correct horse battery")
            .await
            .unwrap(),
        agent("anna")
    );
    let reset = store.account("anna").await.unwrap().unwrap().account;
    assert_eq!((reset.failures, reset.refused_until), (0, None));
    desk.sign_in("anna", "wrong").await.unwrap_err();
    assert_eq!(
        desk.sign_in("anna", "correct horse battery").await.unwrap(),
        agent("anna")
    );

    // Who may set whose password: the holder, an admin, the system; nobody else.
    desk.set_password(&agent("anna"), &agent("anna"), "a new passphrase")
        .await
        .unwrap();
    desk.set_password(&agent("root"), &agent("bernd"), "bernds passphrase")
        .await
        .unwrap();
    assert!(matches!(
        desk.set_password(&agent("anna"), &agent("bernd"), "hijacked!!")
            .await,
        Err(Error::Denied { .. })
    ));
    assert!(matches!(
        desk.set_password(&customer("kim"), &customer("karla"), "hijacked!!")
            .await,
        Err(Error::Denied { .. })
    ));
    assert!(matches!(
        desk.set_password(&system, &agent("anna"), "short").await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        desk.set_password(&system, &agent("ghost"), "long enough")
            .await,
        Err(Error::NotFound(_))
    ));
    // One login signs in as one holder.
    assert!(matches!(
        desk.set_password(&system, &customer("anna"), "long enough")
            .await,
        Err(Error::NotFound(_) | Error::Invalid(_))
    ));
    assert_eq!(
        desk.sign_in("anna", "a new passphrase").await.unwrap(),
        agent("anna")
    );
    assert_eq!(
        desk.sign_in("bernd", "bernds passphrase").await.unwrap(),
        agent("bernd")
    );

    // Guesses sent side by side all count: five are checked, the rest refused unhashed.
    let desk = Arc::new(desk);
    let guesses: Vec<_> = (0..8)
        .map(|i| {
            let desk = desk.clone();
            tokio::spawn(async move { desk.sign_in("bernd", &format!("guess {i}")).await })
        })
        .collect();
    let mut refused = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Err(Error::SignIn) => {}
            Err(Error::SignInRefused { .. }) => refused += 1,
            other => panic!("a guess got {other:?}"),
        }
    }
    assert_eq!(refused, 3);
    let bernd = store.account("bernd").await.unwrap().unwrap().account;
    assert_eq!(bernd.failures, 5);
}

/// API tokens stand for their holder until they expire or are revoked; the store keeps only
/// their hash, and only the holder, an admin or the system manages them.
pub async fn api_tokens(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let (other, _) = fixture(store.clone()).await;
    let other = other.with_clock(Arc::new(clock.clone()));
    let system = Actor::System;
    let token = desk
        .create_token(
            &system,
            &agent("bernd"),
            "irc-bot",
            Some(clock.now() + Duration::days(1)),
        )
        .await
        .unwrap();
    assert!(token.len() >= 32 + 4, "{token}");
    assert_eq!(other.actor_for_token(&token).await.unwrap(), agent("bernd"));
    let listed = desk.tokens(&agent("bernd"), &agent("bernd")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "irc-bot");
    assert_eq!(listed[0].last_used, Some(clock.now()));
    assert_eq!(listed[0].expires, Some(clock.now() + Duration::days(1)));
    let stored = format!("{:?}", store.account("bernd").await.unwrap().unwrap());
    assert!(!stored.contains(&token), "the token itself is never stored");
    assert!(stored.contains(&crate::account::token_hash(&token)));

    // Names are unique per account; the holder and an admin may make more.
    assert!(matches!(
        desk.create_token(&system, &agent("bernd"), "irc-bot", None)
            .await,
        Err(Error::Invalid(_))
    ));
    let own = desk
        .create_token(&agent("bernd"), &agent("bernd"), "script", None)
        .await
        .unwrap();
    let by_admin = desk
        .create_token(&agent("root"), &agent("anna"), "web", None)
        .await
        .unwrap();
    let kims = desk
        .create_token(&customer("kim"), &customer("kim"), "portal", None)
        .await
        .unwrap();
    assert_eq!(desk.actor_for_token(&own).await.unwrap(), agent("bernd"));
    assert_eq!(
        desk.actor_for_token(&by_admin).await.unwrap(),
        agent("anna")
    );
    assert_eq!(desk.actor_for_token(&kims).await.unwrap(), customer("kim"));
    assert!(matches!(
        desk.create_token(&agent("anna"), &agent("bernd"), "stolen", None)
            .await,
        Err(Error::Denied { .. })
    ));
    assert!(matches!(
        desk.tokens(&customer("kim"), &agent("bernd")).await,
        Err(Error::Denied { .. })
    ));

    // Forged, altered and foreign tokens are refused alike.
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == '0' { '1' } else { '0' });
    let swapped = token.replacen(
        &crate::article::hex(b"bernd"),
        &crate::article::hex(b"anna"),
        1,
    );
    for forged in [
        altered.as_str(),
        swapped.as_str(),
        "",
        "tct_",
        "Bearer x",
        "tct_zz_00",
    ] {
        assert!(
            matches!(
                desk.actor_for_token(forged).await,
                Err(Error::Unauthorized(_))
            ),
            "{forged:?}"
        );
    }

    // Revoked: refused at once in every process.
    desk.revoke_token(&agent("bernd"), &agent("bernd"), "script")
        .await
        .unwrap();
    assert!(matches!(
        other.actor_for_token(&own).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        desk.revoke_token(&system, &agent("bernd"), "script").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(desk.actor_for_token(&token).await.unwrap(), agent("bernd"));
    // Expired: refused.
    clock.advance(Duration::days(1));
    assert!(matches!(
        other.actor_for_token(&token).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        desk.create_token(&system, &agent("anna"), "past", Some(clock.now()))
            .await,
        Err(Error::Invalid(_))
    ));
}

/// A browser session is known to every desk on the store, moves its expiry on with use, ends
/// when unused too long or signed out, and is new at every sign-in.
pub async fn sessions(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let (other, _) = fixture(store.clone()).await;
    let other = other.with_clock(Arc::new(clock.clone()));
    desk.set_password(&Actor::System, &agent("anna"), "anna's passphrase")
        .await
        .unwrap();
    assert!(matches!(
        desk.open_session("anna", "wrong passphrase").await,
        Err(Error::SignIn)
    ));
    let (actor, first) = desk
        .open_session("anna", "anna's passphrase")
        .await
        .unwrap();
    assert_eq!(actor, agent("anna"));
    let (_, second) = desk
        .open_session("anna", "anna's passphrase")
        .await
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(other.actor_for_token(&first).await.unwrap(), agent("anna"));
    assert!(
        desk.tokens(&agent("anna"), &agent("anna"))
            .await
            .unwrap()
            .is_empty(),
        "sessions are not API tokens"
    );
    // Used every few hours, it lives on; unused for the idle time, it ends.
    for _ in 0..4 {
        clock.advance(crate::account::SESSION_IDLE / 2);
        assert_eq!(desk.actor_for_token(&first).await.unwrap(), agent("anna"));
    }
    assert!(matches!(
        other.actor_for_token(&second).await,
        Err(Error::Unauthorized(_))
    ));
    // Signed out in one process: ended in every one.
    desk.end_session(&first).await.unwrap();
    assert!(matches!(
        other.actor_for_token(&first).await,
        Err(Error::Unauthorized(_))
    ));
    desk.end_session(&first).await.unwrap();
    desk.end_session("tct_not_a_session").await.unwrap();
    // Many sign-ins keep a bounded number of sessions.
    for _ in 0..40 {
        desk.open_session("anna", "anna's passphrase")
            .await
            .unwrap();
    }
    let kept = store.account("anna").await.unwrap().unwrap().account.tokens;
    assert!(kept.len() <= 32, "{} sessions kept", kept.len());
}

/// A named consumer's document survives beside its cursor, per actor, replaced as a whole;
/// long names are kept apart too.
pub async fn consumer_state_is_kept(store: Arc<dyn Store>) {
    let (desk, _) = fixture(store.clone()).await;
    let system = Actor::System;
    assert_eq!(
        desk.consumer_state(&system, "webhook:chat").await.unwrap(),
        None
    );
    desk.save_consumer_state(&system, "webhook:chat", b"{\"failures\":3}")
        .await
        .unwrap();
    desk.save_consumer_state(&agent("anna"), "webhook:chat", b"anna's")
        .await
        .unwrap();
    let long_a = format!("webhook:{}", "a".repeat(100));
    let long_b = format!("webhook:{}b", "a".repeat(99));
    desk.save_consumer_state(&system, &long_a, b"A")
        .await
        .unwrap();
    desk.save_consumer_state(&system, &long_b, b"B")
        .await
        .unwrap();
    desk.save_consumer_state(&system, "webhook:chat", &[0, 255, 7])
        .await
        .unwrap();
    assert_eq!(
        desk.consumer_state(&system, "webhook:chat").await.unwrap(),
        Some(vec![0, 255, 7])
    );
    assert_eq!(
        desk.consumer_state(&agent("anna"), "webhook:chat")
            .await
            .unwrap(),
        Some(b"anna's".to_vec())
    );
    assert_eq!(
        desk.consumer_state(&system, &long_a).await.unwrap(),
        Some(b"A".to_vec())
    );
    assert_eq!(
        desk.consumer_state(&system, &long_b).await.unwrap(),
        Some(b"B".to_vec())
    );
    // The configuration beside them is untouched.
    assert!(store.config().await.unwrap().is_some());
}

/// Disabling an account, removing it or revoking a permission counts from that actor's next
/// request in every desk on the store: no configuration cache hides it.
pub async fn revocation_takes_effect_at_once(store: Arc<dyn Store>) {
    let (admin, clock) = fixture(store.clone()).await;
    let (desk, _) = fixture(store.clone()).await;
    let desk = desk.with_clock(Arc::new(clock.clone()));
    let system = Actor::System;
    admin
        .set_password(&system, &agent("anna"), "anna's passphrase")
        .await
        .unwrap();
    admin
        .set_password(&system, &customer("kim"), "kim's passphrase")
        .await
        .unwrap();
    let token = admin
        .create_token(&system, &agent("anna"), "bot", None)
        .await
        .unwrap();
    let ticket = request(&desk, "kim", "Support", "Printer").await;
    let anna = desk.sign_in("anna", "anna's passphrase").await.unwrap();
    assert_eq!(desk.ticket(&anna, ticket.id).await.unwrap().id, ticket.id);

    // A permission revoked in one process: the next request in the other no longer has it.
    let mut config = fixture_config();
    config
        .agents
        .iter_mut()
        .find(|a| a.login == "anna")
        .unwrap()
        .groups
        .remove("support");
    admin.configure(config.clone()).await.unwrap();
    assert!(matches!(
        desk.ticket(&anna, ticket.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(
        desk.queue_view(&anna, TicketQuery::default())
            .await
            .unwrap()
            .tickets
            .is_empty()
    );
    assert!(matches!(
        desk.lock(&anna, ticket.id).await,
        Err(Error::NotFound(_))
    ));

    // Disabled: every request, the sign-in and the token are refused.
    config
        .agents
        .iter_mut()
        .find(|a| a.login == "anna")
        .unwrap()
        .valid = false;
    admin.configure(config.clone()).await.unwrap();
    assert!(matches!(
        desk.queue_view(&anna, TicketQuery::default()).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        desk.note(&anna, ticket.id, Message::text("still here?"), false, &[])
            .await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        desk.sign_in("anna", "anna's passphrase").await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        desk.actor_for_token(&token).await,
        Err(Error::Unauthorized(_))
    ));

    // Removed: the same.
    config.agents.retain(|a| a.login != "anna");
    admin.configure(config).await.unwrap();
    assert!(matches!(
        desk.ticket(&anna, ticket.id).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        desk.actor_for_token(&token).await,
        Err(Error::Unauthorized(_))
    ));

    // A customer disabled in the directory.
    let kim = desk.sign_in("kim", "kim's passphrase").await.unwrap();
    assert_eq!(desk.ticket(&kim, ticket.id).await.unwrap().id, ticket.id);
    let mut record = store.customer("kim").await.unwrap().unwrap();
    record.valid = false;
    store.put_customer(&record).await.unwrap();
    assert!(matches!(
        desk.ticket(&kim, ticket.id).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        desk.sign_in("kim", "kim's passphrase").await,
        Err(Error::Unauthorized(_))
    ));
    // The system still works on the ticket (mail from kim keeps arriving).
    desk.note(&system, ticket.id, Message::text("noted"), false, &[])
        .await
        .unwrap();
}

/// Tickets maintenance cannot process (here: their auto-close state was removed from the
/// configuration), more than a batch of them and due before the rest, are set aside with a
/// reason, block nothing behind them and leave nothing due, so a resident process does not
/// spin; a change of such a ticket puts it back.
pub async fn tick_sets_aside_what_it_cannot_process(store: Arc<dyn Store>) {
    let (desk, clock) = fixture(store.clone()).await;
    let desk = desk.with_tick_batch(4);
    let root = agent("root");
    let t0 = crate::clock::Clock::now(&clock);
    let hours = Duration::hours;
    let mut broken = Vec::new();
    for i in 0..10 {
        let t = request(&desk, "kim", "Support", &format!("broken {i}")).await;
        desk.set_state(&root, t.id, "pending auto close+", Some(t0 + hours(1)))
            .await
            .unwrap();
        broken.push(t.id);
    }
    let mut fine = Vec::new();
    for i in 0..3 {
        let t = request(&desk, "kim", "Support", &format!("fine {i}")).await;
        desk.set_state(&root, t.id, "pending auto close-", Some(t0 + hours(2)))
            .await
            .unwrap();
        fine.push(t.id);
    }
    let mut config = fixture_config();
    // Its closed state and the pending state leading there both gone: the tickets already
    // pending can no longer be auto-closed.
    config.states.retain(|s| {
        !matches!(
            s.state_type,
            StateType::ClosedSuccessful | StateType::PendingAutoCloseSuccessful
        )
    });
    desk.configure(config).await.unwrap();

    clock.set(t0 + hours(3));
    let report = desk.tick(t0 + hours(3)).await.unwrap();
    assert_eq!(report.closed, 3, "{report:?}");
    assert_eq!(report.set_aside.len(), 10, "{report:?}");
    assert!(
        report
            .set_aside
            .iter()
            .all(|(_, why)| why.contains("auto-close")),
        "{report:?}"
    );
    for id in &fine {
        let t = desk.ticket(&root, *id).await.unwrap();
        assert_eq!(t.state_type, StateType::ClosedUnsuccessful);
    }
    for id in &broken {
        let t = desk.ticket(&root, *id).await.unwrap();
        assert_eq!(t.state_type, StateType::PendingAutoCloseSuccessful);
        let history = desk.history(&root, *id).await.unwrap();
        assert_eq!(types(&history).last(), Some(&"SetAside"));
    }
    // Nothing is left due: a resident process sleeps instead of spinning on them.
    assert_eq!(
        desk.next_due()
            .await
            .unwrap()
            .filter(|at| *at <= t0 + hours(3)),
        None
    );
    assert_eq!(desk.tick(t0 + hours(3)).await.unwrap(), Default::default());

    // A change puts a ticket back; still broken, it is set aside again, once.
    desk.set_priority(&root, broken[0], Priority::HIGHEST)
        .await
        .unwrap();
    let report = desk.tick(t0 + hours(3)).await.unwrap();
    assert_eq!(report.set_aside.len(), 1, "{report:?}");
    assert_eq!(desk.tick(t0 + hours(3)).await.unwrap(), Default::default());
}

/// Everything `follow` yields for `actor` from `after` that is already in the log: the
/// stream is read until it has been quiet for a moment.
async fn followed(desk: &Arc<Desk>, actor: Actor, after: u64) -> Vec<crate::event::Event> {
    use futures_util::StreamExt;
    let stream = desk.follow(actor, after);
    futures_util::pin_mut!(stream);
    let mut seen = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), stream.next()).await
    {
        seen.push(event.unwrap());
    }
    seen
}

/// Following the log: each actor gets exactly what it may see, in order, at the moment of
/// each event (a ticket handed into a transfer queue drops out of sight from then on; a
/// customer never sees internal notes or whom a note notifies); a waiting follower is woken
/// by a commit; a named consumer resumes after the last event it acknowledged.
pub async fn follow_shows_each_viewer_its_share(store: Arc<dyn Store>) {
    use futures_util::StreamExt;
    let (desk, _) = fixture(store.clone()).await;
    let desk = Arc::new(desk);
    let (anna, chris) = (agent("anna"), agent("chris"));
    let t1 = request(&desk, "karla", "Support", "Printer").await;
    desk.note(&anna, t1.id, Message::text("internal"), false, &["chris"])
        .await
        .unwrap();
    desk.note(&anna, t1.id, Message::text("public"), true, &["chris"])
        .await
        .unwrap();
    let moved = desk.move_ticket(&anna, t1.id, "Transfer").await.unwrap();
    let move_seq = moved
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Move { .. }))
        .unwrap()
        .seq;
    desk.note(&chris, t1.id, Message::text("after the move"), false, &[])
        .await
        .unwrap();
    let t2 = request(&desk, "kim", "Support", "Scanner").await;

    let all = followed(&desk, Actor::System, 0).await;
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "the whole log, in order"
    );

    let annas = followed(&desk, anna.clone(), 0).await;
    assert!(
        annas
            .iter()
            .any(|e| matches!(e.kind, EventKind::Move { .. }))
    );
    assert!(
        annas.iter().all(|e| e.ticket != t1.id || e.seq <= move_seq),
        "nothing of t1 after anna handed it into the transfer queue"
    );
    assert!(annas.iter().any(|e| e.ticket == t2.id));
    let expected_annas: Vec<u64> = all
        .iter()
        .filter(|e| e.ticket == t2.id || e.seq <= move_seq)
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        annas.iter().map(|e| e.seq).collect::<Vec<_>>(),
        expected_annas
    );

    let chris_sees = followed(&desk, chris.clone(), 0).await;
    assert_eq!(
        chris_sees.len(),
        all.len(),
        "chris reads support and transfer"
    );

    let karlas = followed(&desk, customer("karla"), 0).await;
    assert!(
        karlas
            .iter()
            .all(|e| e.ticket == t1.id && e.kind.customer_visible())
    );
    let notes: Vec<_> = karlas
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AddNote { notify, .. } => Some(notify.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        notes,
        [Vec::<String>::new()],
        "the public note, without its notify list"
    );
    assert!(
        !karlas
            .iter()
            .any(|e| matches!(e.kind, EventKind::Move { .. }))
    );
    let kims = followed(&desk, customer("kim"), 0).await;
    assert!(!kims.is_empty() && kims.iter().all(|e| e.ticket == t2.id));

    // A waiting follower is woken by the next commit; one that asks for a place past the end
    // of the log (a stale or made-up cursor) gets the next event too, not nothing for ever.
    let last = all.last().unwrap().seq;
    assert_eq!(store.last_seq().await.unwrap(), last);
    let live = desk.follow(anna.clone(), last);
    futures_util::pin_mut!(live);
    let waiting = tokio::spawn({
        let desk = desk.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            request(&desk, "kurt", "Support", "Live").await
        }
    });
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), live.next())
        .await
        .expect("woken within the deadline")
        .unwrap()
        .unwrap();
    let t3 = waiting.await.unwrap();
    assert_eq!(next.ticket, t3.id);
    assert_eq!(next.seq, last + 1);
    let beyond = tokio::spawn({
        let (desk, anna) = (desk.clone(), anna.clone());
        async move {
            let stream = desk.follow(anna, u64::MAX);
            futures_util::pin_mut!(stream);
            stream.next().await.map(|e| e.map(|e| e.seq))
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let t4 = desk
        .create_ticket(
            &anna,
            NewTicket::new("Support", "Beyond", Channel::Phone, Message::text("x")),
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), beyond)
        .await
        .expect("past the end, woken all the same")
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, t4.events[0].seq);

    // A named consumer resumes after what it acknowledged; each actor's consumers are its own.
    {
        let stream = desk.resume(anna.clone(), "bot").await.unwrap();
        futures_util::pin_mut!(stream);
        let first = stream.next().await.unwrap().unwrap();
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!((first.seq, second.seq), (annas[0].seq, annas[1].seq));
        desk.save_cursor(&anna, "bot", second.seq).await.unwrap();
    }
    let stream = desk.resume(anna.clone(), "bot").await.unwrap();
    futures_util::pin_mut!(stream);
    assert_eq!(stream.next().await.unwrap().unwrap().seq, annas[2].seq);
    assert_eq!(desk.cursor(&Actor::System, "bot").await.unwrap(), 0);
    assert_eq!(desk.cursor(&chris, "bot").await.unwrap(), 0);

    // An agent disabled while following: the next event ends the stream with the refusal.
    let last = desk
        .events_since(&Actor::System, 0, usize::MAX)
        .await
        .unwrap()
        .cursor;
    let chris_live = desk.follow(chris.clone(), last);
    futures_util::pin_mut!(chris_live);
    let mut config = fixture_config();
    config
        .agents
        .iter_mut()
        .find(|a| a.login == "chris")
        .unwrap()
        .valid = false;
    desk.configure(config).await.unwrap();
    request(&desk, "kurt", "Support", "After chris left").await;
    let refused = tokio::time::timeout(std::time::Duration::from_secs(10), chris_live.next())
        .await
        .expect("told within the deadline")
        .unwrap();
    assert!(
        matches!(refused, Err(Error::Unauthorized(_))),
        "{refused:?}"
    );
    assert!(chris_live.next().await.is_none(), "the stream ends there");
}
