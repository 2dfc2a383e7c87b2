//! Every path of SqlStore on PostgreSQL is index-backed: on a desk of 100,000 tickets (most
//! closed; a working set new, open, pending, locked, archived) and 3,000 FAQ entries, no
//! statement the store runs reads `tickets`, `articles`, `events`, the search terms or the
//! FAQ sequentially.
//!
//! The plans come from PostgreSQL itself: the connections of a second store preload the
//! `auto_explain` module, which reports the plan of every statement as it executes as a
//! notice; sqlx hands notices to `tracing`, and a subscriber here collects them. So the test
//! sees exactly the statements the store sends, with the plans they really ran with, once as
//! custom plans and once as the generic plans prepared statements switch to.
//!
//! Needs `TICKETCORE_TEST_POSTGRES_URL`; without it, says so on stderr and checks nothing.
//! `TICKETCORE_EXPLAIN_VERBOSE=1` prints every plan.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use chrono::Duration;
use sqlx::{Connection, PgConnection, Row};
use ticketcore::acl::CustomerScope;
use ticketcore::analyzer::term;
use ticketcore::rules::{self, Ctx, Fresh};
use ticketcore::testkit::epoch;
use ticketcore::{
    Actor, ArticleId, Change, Channel, Config, DueKind, FaqEntry, FaqQuery, FaqState, Message,
    NewTicket, Op, PageKey, Priority, SearchQuery, StateType, Store, Ticket, TicketId, TicketQuery,
};
use ticketcore_sql::SqlStore;

const TICKETS: usize = 100_000;
const BATCH: usize = 1_000;
const QUEUES: [&str; 5] = ["Support", "Support::Level2", "Finance", "Sales", "Archive"];
/// FAQ entries, in ten categories.
const FAQ_ENTRIES: u64 = 3_000;
/// Tables that must never be read by a sequential scan.
const BIG_TABLES: [&str; 6] = [
    "tickets",
    "articles",
    "events",
    "ticket_search",
    "faq",
    "faq_terms",
];

const CONFIG: &str = r#"
[numbers]
generator = "DateChecksum"

[[groups]]
name = "support"
[[groups]]
name = "finance"

[[queues]]
name = "Support"
group = "support"
unlock_timeout = "12h"
first_response = "2h"
update = "4h"
solution = "1d"
[[queues]]
name = "Support::Level2"
group = "support"
unlock_timeout = "1d"
solution = "3d"
[[queues]]
name = "Finance"
group = "finance"
unlock_timeout = "8h"
first_response = "4h"
[[queues]]
name = "Sales"
group = "support"
[[queues]]
name = "Archive"
group = "support"

[[faq_categories]]
name = "Help"
group = "support"

[[agents]]
login = "anna"
groups = { support = ["rw"], finance = ["rw"] }
"#;

// --- Collecting the plans PostgreSQL reports --------------------------------------------------

static PLANS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Collects the notices sqlx receives from PostgreSQL (auto_explain's plans among them).
struct Notices;

struct MessageField(Option<String>);

impl tracing::field::Visit for MessageField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl tracing::Subscriber for Notices {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "sqlx::postgres::notice"
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = MessageField(None);
        event.record(&mut message);
        if let Some(text) = message.0.filter(|m| m.contains("plan:")) {
            PLANS.lock().unwrap().push(text);
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

fn take_plans() -> Vec<String> {
    std::mem::take(&mut *PLANS.lock().unwrap())
}

/// The big tables a plan reads sequentially.
fn seq_scans(plan: &str) -> Vec<&'static str> {
    BIG_TABLES
        .into_iter()
        .filter(|t| {
            plan.contains(&format!("Seq Scan on {t} "))
                || plan.ends_with(&format!("Seq Scan on {t}"))
        })
        .collect()
}

/// The indexes a plan reads ("Index Scan using NAME on …", "Bitmap Index Scan on NAME").
fn indexes(plan: &str) -> BTreeSet<String> {
    let after = |marker: &'static str| {
        plan.split(marker)
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next())
            .map(String::from)
    };
    after(" using ")
        .chain(after("Bitmap Index Scan on "))
        .collect()
}

// --- The population ---------------------------------------------------------------------------

/// A cheap, well-mixed hash of `i` (splitmix64), for spreading attributes.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Builder::from_u128(n << 80 | n).into_uuid()
}

fn message_id(i: usize) -> String {
    format!("{i}.explain@ticketcore.test")
}

fn ctx<'a>(config: &'a Config, actor: &'a Actor, now: chrono::DateTime<chrono::Utc>) -> Ctx<'a> {
    Ctx {
        config,
        actor,
        customer: None,
        now,
    }
}

/// 100,000 tickets through `commit_batch` in batches of 1,000; then a few hundred set pending,
/// a few hundred locked and a few thousand closed ones archived. Returns a ticket from the
/// middle.
async fn populate(store: &SqlStore, config: &Config) -> Ticket {
    let start = epoch() - Duration::days(60);
    let day = epoch().date_naive();
    let system = Actor::System;
    let (mut to_pend, mut to_lock, mut to_archive) = (Vec::new(), Vec::new(), Vec::new());
    let mut sample = None;
    let clock = Instant::now();
    for chunk in (0..TICKETS).collect::<Vec<_>>().chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let h = mix(i as u64);
            let mut message = Message::text(format!("Request {i}: the printer is broken again."));
            message.message_id = Some(message_id(i));
            let queue = QUEUES[(h % QUEUES.len() as u64) as usize];
            let mut input = NewTicket::new(queue, format!("Request {i}"), Channel::Email, message);
            let customer = (h >> 16) % 5000;
            if !(h >> 8).is_multiple_of(50) {
                input.customer = Some(format!("customer{customer}"));
                if !customer.is_multiple_of(7) {
                    input.customer_company = Some(format!("company{}", customer / 10));
                }
            }
            input.priority = Priority::new(((h >> 32) % 5) as u8 + 1).ok();
            input.state = Some(
                match (h >> 40) % 100 {
                    0..5 => "new",
                    5..12 => "open",
                    12..17 => "closed unsuccessful",
                    _ => "closed successful",
                }
                .into(),
            );
            let fresh = Fresh {
                ticket: TicketId(uuid_from(i as u128 + 1)),
                number: config.numbers.format(day, 1_000_000 + i as u64, 0),
                article: ArticleId(uuid_from((1u128 << 64) + i as u128)),
            };
            let now = start + Duration::seconds(i as i64 * 45);
            let change = rules::create(ctx(config, &system, now), &input, &fresh).expect("create");
            let ticket = &change.writes[0].ticket;
            let active = ticket.state_type.is_active();
            if active && to_pend.len() < 300 {
                to_pend.push(ticket.clone());
            } else if active && to_lock.len() < 300 && queue != "Sales" && queue != "Archive" {
                to_lock.push(ticket.clone());
            } else if !active && i % 40 == 0 {
                to_archive.push(ticket.clone());
            }
            if i == TICKETS / 2 {
                sample = Some(ticket.clone());
            }
            batch.push(change);
        }
        for result in store.commit_batch(batch).await.expect("batch") {
            result.expect("commit");
        }
    }
    let elapsed = clock.elapsed();
    note(&format!(
        "{TICKETS} tickets with their first article through commit_batch in {elapsed:.1?} \
         ({:.0} tickets/s, debug build)",
        TICKETS as f64 / elapsed.as_secs_f64()
    ));

    let anna = Actor::agent("anna");
    let mut changes: Vec<Change> = Vec::new();
    for (k, t) in to_pend.iter().enumerate() {
        let state = [
            "pending reminder",
            "pending auto close+",
            "pending auto close-",
        ][k % 3];
        let op = Op::SetState {
            state: state.into(),
            pending_until: Some(epoch() + Duration::hours(k as i64 + 1)),
        };
        changes.push(rules::apply(ctx(config, &anna, epoch()), t, &op).expect("pending"));
    }
    for (k, t) in to_lock.iter().enumerate() {
        let now = epoch() + Duration::minutes(k as i64);
        changes.push(rules::apply(ctx(config, &anna, now), t, &Op::Lock).expect("lock"));
    }
    for t in &to_archive {
        let op = Op::Archive { archived: true };
        changes.push(rules::apply(ctx(config, &anna, epoch()), t, &op).expect("archive"));
    }
    for batch in changes.chunks(BATCH) {
        for result in store.commit_batch(batch.to_vec()).await.expect("batch") {
            result.expect("commit");
        }
    }
    sample.expect("sample ticket")
}

/// FAQ entries 1 to [`FAQ_ENTRIES`] in categories `Help::0` to `Help::9`, a third of them
/// public, each with a word of its own (`topic<number>`).
async fn populate_faq(store: &SqlStore) {
    for number in 1..=FAQ_ENTRIES {
        let state = [FaqState::Public, FaqState::Internal, FaqState::Draft][(number % 3) as usize];
        let entry = FaqEntry {
            number,
            version: 1,
            title: format!("How to fix topic{number}"),
            category: format!("Help::{}", number % 10),
            keywords: vec!["printer".into()],
            language: "en".into(),
            text: format!("Restart the printer, then topic{number} works again."),
            html: None,
            attachments: Vec::new(),
            state,
            created: epoch(),
            changed: epoch(),
            changed_by: Actor::System,
        };
        store.save_faq(&entry, &[]).await.expect("save FAQ entry");
    }
}

fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "explain: {message}");
}

/// A search as the system, for the wanted and unwanted phrases (as words).
fn search_query(all: &[&[&str]], none: &[&[&str]], customer: Option<CustomerScope>) -> SearchQuery {
    let phrases = |p: &[&[&str]]| -> Vec<Vec<String>> {
        p.iter()
            .map(|words| words.iter().filter_map(|w| term(w)).collect())
            .collect()
    };
    SearchQuery {
        all: phrases(all),
        none: phrases(none),
        internal: customer.is_none(),
        customer,
        limit: 20,
        ..SearchQuery::default()
    }
}

fn faq_query(all: &[&[&str]], visible: BTreeMap<FaqState, Option<BTreeSet<String>>>) -> FaqQuery {
    FaqQuery {
        all: all
            .iter()
            .map(|words| words.iter().filter_map(|w| term(w)).collect())
            .collect(),
        visible,
        limit: 20,
        ..FaqQuery::default()
    }
}

// --- The test ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_uses_indexes_on_postgres() {
    if let Some(reason) = support::unavailable(support::POSTGRES) {
        note(&format!(
            "SKIPPED explain (every_path_uses_indexes_on_postgres): {reason}"
        ));
        return;
    }
    tracing::subscriber::set_global_default(Notices).expect("the only subscriber");
    let (url, schema) = support::postgres_schema().await.expect("PostgreSQL");
    let store = SqlStore::connect(&url).await.expect("store");
    let config = Config::from_toml(CONFIG).expect("configuration");
    store.save_config(&config, 0).await.expect("save config");
    let sample = populate(&store, &config).await;
    populate_faq(&store).await;
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    sqlx::query("ANALYZE")
        .execute(&mut admin)
        .await
        .expect("analyze");
    for column in ["lock_due", "pending_due", "escalation_due"] {
        let sql = format!("SELECT COUNT(*) FROM tickets WHERE {column} IS NOT NULL");
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut admin)
            .await
            .expect("count")
            .get(0);
        assert!(n > 0, "the population has no ticket with {column}");
    }

    let mut failures = Vec::new();
    let mut checked = 0;
    for mode in ["force_custom_plan", "force_generic_plan"] {
        let explained = SqlStore::connect(&support::with_settings(
            &url,
            &[
                ("session_preload_libraries", "auto_explain"),
                ("auto_explain.log_min_duration", "0"),
                ("auto_explain.log_level", "notice"),
                ("plan_cache_mode", mode),
            ],
        ))
        .await
        .expect("explaining store");
        take_plans();
        let mut check = |path: &str| {
            let plans = take_plans();
            let read: Vec<&String> = plans
                .iter()
                .filter(|p| BIG_TABLES.iter().any(|t| p.contains(&format!(" on {t}"))))
                .collect();
            if read.is_empty() {
                failures.push(format!(
                    "{path} ({mode}): PostgreSQL reported no plan on a big table"
                ));
            }
            let mut used = BTreeSet::new();
            for plan in &read {
                used.extend(indexes(plan));
                let scans = seq_scans(plan);
                if !scans.is_empty() {
                    failures.push(format!(
                        "{path} ({mode}) reads {scans:?} sequentially:\n{plan}"
                    ));
                }
                if std::env::var_os("TICKETCORE_EXPLAIN_VERBOSE").is_some() {
                    note(&format!("--- {path} ({mode})\n{plan}"));
                }
            }
            note(&format!(
                "{path} ({mode}): {} statements, indexes {used:?}",
                read.len()
            ));
            checked += 1;
        };

        let t = &sample;
        explained.ticket(t.id).await.expect("ticket");
        check("ticket by id");
        explained.ticket_by_number(&t.number).await.expect("number");
        check("ticket by number");
        explained
            .article_by_message_id(&message_id(TICKETS / 3))
            .await
            .expect("mid");
        check("article by Message-ID");
        explained.articles(t.id).await.expect("articles");
        check("articles of a ticket");
        explained.history(t.id).await.expect("history");
        check("history");
        explained.events_since(150_000, 500).await.expect("events");
        check("events since");
        for kind in [DueKind::LockExpiry, DueKind::Pending, DueKind::Escalation] {
            explained
                .due(kind, epoch() + Duration::days(1), 100)
                .await
                .expect("due");
            check(&format!("due {kind:?}"));
            explained.next_due(kind).await.expect("next due");
            check(&format!("next due {kind:?}"));
        }

        let working = TicketQuery {
            state_types: Some(BTreeSet::from([StateType::New, StateType::Open])),
            ..TicketQuery::default()
        };
        let first = explained.query(&working).await.expect("working view");
        check("queue view: working set");
        assert!(first.next.is_some(), "the working view has a second page");
        let karla = CustomerScope {
            login: "customer42".into(),
            company: Some("company4".into()),
        };
        let views = [
            (
                "queue view: one bucket",
                TicketQuery {
                    queues: Some(BTreeSet::from(["Support".to_string()])),
                    state_types: Some(BTreeSet::from([StateType::Open])),
                    ..TicketQuery::default()
                },
            ),
            (
                "queue view: working set, page 2",
                TicketQuery {
                    after: first.next,
                    ..working.clone()
                },
            ),
            ("queue view: all states", TicketQuery::default()),
            (
                "queue view: archived too",
                TicketQuery {
                    archived: None,
                    ..TicketQuery::default()
                },
            ),
            (
                "queue view: closed bucket, page 2",
                TicketQuery {
                    queues: Some(BTreeSet::from(["Finance".to_string()])),
                    state_types: Some(BTreeSet::from([StateType::ClosedSuccessful])),
                    after: Some(PageKey::of(t)),
                    ..TicketQuery::default()
                },
            ),
            (
                "queue view: my locked tickets",
                TicketQuery {
                    locked: Some(true),
                    owner: Some("anna".into()),
                    ..TicketQuery::default()
                },
            ),
            (
                "queue view: all locked tickets",
                TicketQuery {
                    locked: Some(true),
                    ..TicketQuery::default()
                },
            ),
            (
                "queue view: unlocked working set",
                TicketQuery {
                    locked: Some(false),
                    ..working.clone()
                },
            ),
            (
                "customer view",
                TicketQuery {
                    customer: Some(karla.clone()),
                    ..TicketQuery::default()
                },
            ),
            (
                "customer view: open, in two queues, page 2",
                TicketQuery {
                    customer: Some(karla.clone()),
                    queues: Some(BTreeSet::from(["Support".into(), "Finance".into()])),
                    state_types: Some(BTreeSet::from([StateType::New, StateType::Open])),
                    after: Some(PageKey::of(t)),
                    ..TicketQuery::default()
                },
            ),
            (
                "customer view: no company",
                TicketQuery {
                    customer: Some(CustomerScope {
                        login: "customer7".into(),
                        company: None,
                    }),
                    archived: None,
                    ..TicketQuery::default()
                },
            ),
        ];
        for (path, q) in views {
            explained.query(&q).await.expect(path);
            check(path);
        }

        // Search: a rare word, a phrase, a customer's search, a filter with an exclusion.
        let searches = [
            (
                "search: one rare word",
                search_query(&[&["4242"]], &[], None),
            ),
            (
                "search: a phrase, one queue",
                SearchQuery {
                    queues: Some(BTreeSet::from(["Support".to_string()])),
                    ..search_query(&[&["request", "4243"]], &[], None)
                },
            ),
            (
                "search: a customer's",
                search_query(&[&["printer"]], &[], Some(karla.clone())),
            ),
            (
                "search: filter and exclusion",
                SearchQuery {
                    state_types: Some(BTreeSet::from([StateType::New])),
                    ..search_query(&[], &[&["4244"]], None)
                },
            ),
        ];
        for (path, q) in searches {
            explained.search(&q).await.expect(path);
            check(path);
        }
        // The FAQ: the public listing, an agent's listing of some categories, a search.
        let public = BTreeMap::from([(FaqState::Public, None)]);
        let some: BTreeSet<String> = (0..3).map(|c| format!("Help::{c}")).collect();
        let agent = BTreeMap::from([
            (FaqState::Public, None),
            (FaqState::Internal, Some(some.clone())),
            (FaqState::Draft, Some(some)),
        ]);
        let faq = [
            ("FAQ: public listing", faq_query(&[], public.clone())),
            ("FAQ: an agent's listing", faq_query(&[], agent.clone())),
            (
                "FAQ: a search",
                faq_query(&[&["topic1234"], &["printer"]], agent),
            ),
            ("FAQ: a public search", faq_query(&[&["topic1233"]], public)),
        ];
        for (path, q) in faq {
            explained.faq_search(&q).await.expect(path);
            check(path);
        }
        explained.faq_entry(FAQ_ENTRIES / 2).await.expect("entry");
        check("FAQ: an entry");
        explained
            .faq_versions(FAQ_ENTRIES / 2)
            .await
            .expect("versions");
        check("FAQ: versions");

        // The commit path: a note on a stored ticket, and a new ticket.
        let current = explained.ticket(t.id).await.unwrap().unwrap();
        take_plans();
        let anna = Actor::agent("anna");
        let op = Op::Note {
            article: ArticleId(uuid::Uuid::now_v7()),
            message: Message::text("checked"),
            visible_to_customer: false,
            notify: Vec::new(),
        };
        let change = rules::apply(ctx(&config, &anna, epoch()), &current, &op).expect("note");
        explained.commit(change).await.expect("commit note");
        check("commit: a note");
        let mut message = Message::text("new");
        message.message_id = Some(format!("{mode}.new@ticketcore.test"));
        let input = NewTicket::new("Support", "new", Channel::Email, message);
        let fresh = Fresh {
            ticket: TicketId(uuid::Uuid::now_v7()),
            number: config
                .numbers
                .format(epoch().date_naive(), 5_000_000 + mode.len() as u64, 0),
            article: ArticleId(uuid::Uuid::now_v7()),
        };
        let change = rules::create(ctx(&config, &Actor::System, epoch()), &input, &fresh).unwrap();
        explained.commit(change).await.expect("commit new ticket");
        check("commit: a new ticket");
    }

    assert!(checked >= 50, "only {checked} paths checked");
    assert!(
        failures.is_empty(),
        "{} paths are not index-backed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    drop(store);
    support::drop_postgres_schema(&schema).await;
}
