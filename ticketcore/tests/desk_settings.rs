//! The desk's knobs do what they say: a configured escalation warning point. (The bound on
//! recomputing a conflicting operation is tested in `suite_catches_bugs.rs`, on its stale
//! store.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ticketcore::{
    Actor, Channel, Config, Desk, EventKind, ManualClock, MemoryStore, Message, NewTicket,
    SeededEntropy, Store,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

async fn desk(store: Arc<dyn Store>, config: &str) -> (Desk, ManualClock) {
    let clock = ManualClock::new(t0());
    let desk = Desk::new(store)
        .with_clock(Arc::new(clock.clone()))
        .with_entropy(Arc::new(SeededEntropy::new(3)));
    desk.configure(Config::from_toml(config).unwrap())
        .await
        .unwrap();
    (desk, clock)
}

const HALFWAY: &str = r#"
[escalation]
warning_percent = 50

[[groups]]
name = "support"

[[queues]]
name = "Support"
group = "support"
solution = "10h"

[[agents]]
login = "anna"
groups = { support = ["rw"] }
"#;

#[tokio::test]
async fn the_warning_comes_at_the_configured_share_of_the_time() {
    let (desk, _clock) = desk(Arc::new(MemoryStore::new()), HALFWAY).await;
    let anna = Actor::agent("anna");
    let input = NewTicket::new("Support", "slow", Channel::Phone, Message::text("help"));
    let t = desk.create_ticket(&anna, input).await.unwrap().ticket;

    let early = desk.tick(t0() + Duration::hours(4)).await.unwrap();
    assert_eq!((early.warnings, early.escalations), (0, 0));
    let halfway = desk.tick(t0() + Duration::hours(5)).await.unwrap();
    assert_eq!((halfway.warnings, halfway.escalations), (1, 0));
    let again = desk.tick(t0() + Duration::hours(9)).await.unwrap();
    assert_eq!((again.warnings, again.escalations), (0, 0));
    let late = desk.tick(t0() + Duration::hours(10)).await.unwrap();
    assert_eq!((late.warnings, late.escalations), (0, 1));

    let history = desk.history(&anna, t.id).await.unwrap();
    let warned_at: Vec<DateTime<Utc>> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::EscalationWarning { .. }))
        .map(|e| e.at)
        .collect();
    assert_eq!(warned_at, [t0() + Duration::hours(5)]);
}

#[test]
fn a_warning_point_outside_1_to_100_is_refused() {
    for bad in ["0", "101"] {
        let config = HALFWAY.replace("warning_percent = 50", &format!("warning_percent = {bad}"));
        let error = Config::from_toml(&config).unwrap_err().to_string();
        assert!(error.contains("warning_percent"), "{error}");
    }
}

/// Processes that each create one ticket and exit take one number at a time when told to,
/// so the numbers stay consecutive; the configured block of 16 would leave gaps of 15.
#[tokio::test]
async fn one_shot_processes_leave_no_gaps_in_the_numbers() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = "[numbers]\ngenerator = \"AutoIncrement\"\nblock = 16\n\
                  [[groups]]\nname = \"g\"\n[[queues]]\nname = \"Q\"\ngroup = \"g\"\n";
    let mut numbers = Vec::new();
    for (seed, one_shot) in [true, true, true, false, false].into_iter().enumerate() {
        let desk = Desk::new(store.clone())
            .with_clock(Arc::new(ManualClock::new(t0())))
            .with_entropy(Arc::new(SeededEntropy::new(seed as u64)));
        desk.configure(Config::from_toml(config).unwrap())
            .await
            .unwrap();
        let desk = if one_shot {
            desk.with_number_block(1)
        } else {
            desk
        };
        let input = NewTicket::new("Q", "t", Channel::Web, Message::text("x"));
        let created = desk
            .create_ticket(&Actor::customer("karla"), input)
            .await
            .unwrap();
        numbers.push(created.ticket.number.to_string());
    }
    assert_eq!(
        numbers,
        ["1000001", "1000002", "1000003", "1000004", "1000020"],
        "one at a time, then blocks of 16"
    );
}
