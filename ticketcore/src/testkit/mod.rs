//! The backend conformance suite and the proptest strategies behind it.
//!
//! A backend crate proves itself by implementing [`Backend`] (how to make a fresh, empty store)
//! and invoking [`conformance_suite!`](crate::conformance_suite) in its tests:
//!
//! ```ignore
//! struct Redb;
//! impl ticketcore::testkit::Backend for Redb {
//!     async fn store() -> std::sync::Arc<dyn ticketcore::Store> { /* a fresh store */ }
//! }
//! ticketcore::conformance_suite!(Redb);
//! ```
//!
//! That generates one test per scenario in [`scenarios`], the state-machine test in [`model`]
//! (random operation sequences run against the backend and against [`MemoryStore`], results
//! compared step by step) and the permission property in [`acl`]. The [`strategies`] are public
//! so embedders can property-test their own code against ticketcore.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::clock::{ManualClock, SeededEntropy};
use crate::config::Config;
use crate::desk::Desk;
use crate::memory::MemoryStore;
use crate::store::Store;

pub mod acl;
pub mod counting;
pub mod knowledge;
pub mod model;
pub mod scenarios;
pub mod searching;
pub mod strategies;

/// How the suite gets a fresh, empty store of the backend under test.
pub trait Backend: 'static {
    /// A new, empty store. Each call must be independent of every other.
    fn store() -> impl Future<Output = Arc<dyn Store>> + Send;

    /// Why this backend cannot be tested here (e.g. no database URL given); the suite then
    /// says so on stderr and checks nothing.
    fn unavailable() -> Option<String> {
        None
    }

    /// Releases what a store made by [`Backend::store`] holds outside the process (a database
    /// schema, say) once a test is done with it. Called after each passing scenario and each
    /// state-machine case; a failing test leaves its store for inspection.
    fn release(store: Arc<dyn Store>) -> impl Future<Output = ()> + Send {
        drop(store);
        async {}
    }
}

/// Says whether to skip `B`'s tests, and the first time, writes why straight to stderr (past
/// libtest's capture, so a passing run still shows it).
pub fn skipped<B: Backend>(test: &str) -> bool {
    use std::io::Write;
    static TOLD: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let Some(reason) = B::unavailable() else {
        return false;
    };
    let name = std::any::type_name::<B>();
    let mut told = TOLD.lock().unwrap_or_else(|e| e.into_inner());
    if !told.contains(&name) {
        told.push(name);
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED conformance suite for {name} (first: {test}): {reason}"
        );
    }
    true
}

/// The reference backend: [`MemoryStore`].
#[derive(Debug)]
pub struct Memory;

impl Backend for Memory {
    async fn store() -> Arc<dyn Store> {
        Arc::new(MemoryStore::new())
    }
}

/// Runs a future on a fresh multi-threaded runtime (the suite's contention tests need real
/// parallelism).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// Every ticket in `store`, archived or not, page by page through the queue query: what a
/// check after a crash or an import looks at.
pub async fn all_tickets(store: &dyn Store) -> Vec<crate::ticket::Ticket> {
    let mut all = Vec::new();
    let mut query = crate::store::TicketQuery {
        limit: 500,
        archived: None,
        ..crate::store::TicketQuery::default()
    };
    loop {
        let page = store.query(&query).await.expect("query");
        all.extend(page.tickets);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return all,
        }
    }
}

/// Runs this test binary again as a child with `role` set to `value`, kills it with SIGKILL
/// after `delay`, and returns the lines it printed until then: the harness of crash tests,
/// where the child reports each commit once it has returned.
pub fn killed_child(
    role: &str,
    value: &std::path::Path,
    delay: std::time::Duration,
) -> Vec<String> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .env(role, value)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("child stdout");
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().expect("reap the child");
    reader.join().unwrap_or_default()
}

/// The moment every suite desk starts at: Monday 2026-03-02, 09:00 in Berlin.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .single()
        .expect("valid date")
}

/// The configuration the suite runs against: queues with each follow-up policy, a transfer
/// queue, agents with different grants (direct and through a role), an admin, customers of
/// one company and one without.
pub const FIXTURE: &str = r#"
[numbers]
generator = "DateChecksum"
block = 4

[[groups]]
name = "support"
[[groups]]
name = "finance"
[[groups]]
name = "transfer"

[[roles]]
name = "auditor"
groups = { support = ["ro"] }

[[calendars]]
name = "office"
time_zone = "Europe/Berlin"
hours = { mon = "09:00-17:00", tue = "09:00-17:00", wed = "09:00-17:00", thu = "09:00-17:00", fri = "09:00-17:00" }
holidays = ["12-25"]

[[queues]]
name = "Support"
group = "support"
unlock_timeout = "12h"
first_response = "2h"
update = "4h"
solution = "1d"
follow_up = "reopen"
[[queues]]
name = "Support::Level2"
group = "support"
follow_up = "new_ticket"
[[queues]]
name = "Finance"
group = "finance"
follow_up = "reject"
calendar = "office"
unlock_timeout = "8h"
first_response = "4h"
solution = "2d"
[[queues]]
name = "Transfer"
group = "transfer"

[[agents]]
login = "anna"
name = "Anna Agent"
email = "anna@example.org"
groups = { support = ["rw"], transfer = ["move_into"] }
[[agents]]
login = "bernd"
groups = { finance = ["rw"], transfer = ["move_into"] }
roles = ["auditor"]
[[agents]]
login = "chris"
groups = { transfer = ["rw"], support = ["ro", "note", "move_into"] }
[[agents]]
login = "root"
admin = true
groups = { support = ["rw"], finance = ["rw"], transfer = ["rw"] }

[[customers]]
login = "karla"
email = "karla@acme.example"
company = "ACME"
[[customers]]
login = "kurt"
email = "kurt@acme.example"
company = "ACME"
[[customers]]
login = "kim"
email = "kim@example.net"

[rules]
customers_see_company_tickets = true
"#;

/// The agents of [`FIXTURE`].
pub const AGENTS: [&str; 4] = ["anna", "bernd", "chris", "root"];
/// The customers of [`FIXTURE`].
pub const CUSTOMERS: [&str; 3] = ["karla", "kurt", "kim"];
/// The queues of [`FIXTURE`].
pub const QUEUES: [&str; 4] = ["Support", "Support::Level2", "Finance", "Transfer"];

/// The parsed [`FIXTURE`].
pub fn fixture_config() -> Config {
    Config::from_toml(FIXTURE).expect("fixture configuration is valid")
}

/// A desk over `store` with a manual clock at [`epoch`] and seeded entropy, configured with
/// `config`.
pub async fn desk_with(store: Arc<dyn Store>, config: Config, seed: u64) -> (Desk, ManualClock) {
    let clock = ManualClock::new(epoch());
    let desk = Desk::new(store)
        .with_clock(Arc::new(clock.clone()))
        .with_entropy(Arc::new(SeededEntropy::new(seed)));
    desk.configure(config).await.expect("configure");
    (desk, clock)
}

/// Generates the conformance tests for a [`Backend`].
#[macro_export]
macro_rules! conformance_suite {
    ($backend:ty) => {
        $crate::conformance_suite!(@scenarios $backend;
            config_is_versioned,
            customers_directory,
            counters_are_atomic,
            quotas_count_with_their_change,
            numbers_unique_across_desks,
            number_blocks_refill_once,
            numbers_restart_each_day,
            create_and_read_back,
            attachments_stored_once,
            message_ids_unique,
            lock_is_exclusive,
            reply_takes_the_lock,
            move_and_transfer_queue,
            state_rules,
            owner_and_priority,
            note_notifies_and_opens,
            follow_up_policies,
            merge_forwards_follow_ups,
            split_and_link,
            watch_and_archive,
            customer_visibility,
            queue_view_pages,
            stale_write_conflicts,
            contention_loses_no_update,
            lock_race_has_one_winner,
            events_seen_once_in_order,
            batch_commit_isolates_failures,
            history_complete_and_ordered,
            lock_expires,
            lock_expires_in_working_time,
            pending_reminder_and_auto_close,
            escalation_warns_and_breaches_once,
            escalation_pauses_while_pending,
            move_recomputes_escalation,
            tick_is_bounded_and_complete,
            concurrent_ticks_do_not_double,
            accounts_are_versioned,
            sign_in_and_throttle,
            api_tokens,
            sessions,
            consumer_state_is_kept,
            revocation_takes_effect_at_once,
            tick_sets_aside_what_it_cannot_process,
            follow_shows_each_viewer_its_share,
            search_finds_what_was_written,
            search_ranks_pages_and_explains,
            stats_count_what_happened,
            faq_is_found_versioned_and_sent
        );
        #[test]
        fn state_machine_matches_memory_store() {
            if !$crate::testkit::skipped::<$backend>("state_machine_matches_memory_store") {
                $crate::testkit::model::run::<$backend>();
            }
        }
        #[test]
        fn acl_never_leaks() {
            if !$crate::testkit::skipped::<$backend>("acl_never_leaks") {
                $crate::testkit::acl::run::<$backend>();
            }
        }
    };
    (@scenarios $backend:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if $crate::testkit::skipped::<$backend>(stringify!($name)) {
                    return;
                }
                $crate::testkit::block_on(async {
                    let store = <$backend as $crate::testkit::Backend>::store().await;
                    $crate::testkit::scenarios::$name(store.clone()).await;
                    <$backend as $crate::testkit::Backend>::release(store).await;
                });
            }
        )*
    };
}
