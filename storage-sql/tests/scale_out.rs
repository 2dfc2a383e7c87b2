//! Several processes on one database: two independent desks, each with its own connection
//! pool, contend on PostgreSQL (and the same on MariaDB). Numbers stay unique, one lock holder
//! wins, no update is lost, concurrent ticks close nothing twice, and a consumer following the
//! event log from either instance sees every event once and in order, even while transactions
//! commit out of order; on PostgreSQL a waiting consumer is woken by NOTIFY.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{Actor, Channel, Desk, Error, EventKind, Message, NewTicket, Store};
use ticketcore_sql::SqlStore;

/// Two desks, each on its own pool, on one fresh database; `None` when not configured.
async fn two_desks(
    url: Option<String>,
) -> Option<(Arc<Desk>, Arc<Desk>, Arc<SqlStore>, Arc<SqlStore>)> {
    let url = url?;
    let a = Arc::new(SqlStore::connect(&url).await.expect("pool a"));
    let b = Arc::new(SqlStore::connect(&url).await.expect("pool b"));
    let (desk_a, _) = desk_with(a.clone(), fixture_config(), 1).await;
    let (desk_b, _) = desk_with(b.clone(), fixture_config(), 2).await;
    Some((Arc::new(desk_a), Arc::new(desk_b), a, b))
}

fn request(i: usize) -> NewTicket {
    NewTicket::new(
        "Support",
        format!("scale {i}"),
        Channel::Web,
        Message::text("hi"),
    )
    .for_customer("karla")
}

async fn contention(url: Option<String>, name: &str) {
    let Some((a, b, store_a, store_b)) = two_desks(url).await else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED scale-out test on {name}: no database URL"
        );
        return;
    };
    let desks = [a.clone(), b.clone()];

    // A consumer on instance B follows the log while everything below commits on both.
    let follower = {
        let store_b = store_b.clone();
        tokio::spawn(async move {
            let mut seen: Vec<u64> = Vec::new();
            let mut cursor = 0;
            let mut idle = 0;
            while idle < 30 {
                let batch = store_b.events_since(cursor, 500).await.unwrap();
                if batch.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                idle = 0;
                for e in &batch {
                    assert_eq!(e.seq, cursor + 1, "gap or reordering in the event log");
                    cursor = e.seq;
                    seen.push(e.seq);
                }
            }
            seen
        })
    };

    // 1,000 concurrent creations from both instances: 1,000 distinct numbers.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let desk = desks[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            desk.create_ticket(&Actor::System, request(i))
                .await
                .unwrap()
                .ticket
        }));
    }
    let mut numbers = BTreeSet::new();
    let mut tickets = Vec::new();
    for t in tasks {
        let t = t.await.unwrap();
        assert!(
            numbers.insert(t.number.clone()),
            "number {} issued twice",
            t.number
        );
        tickets.push(t);
    }
    assert_eq!(numbers.len(), 1000);
    let created = start.elapsed();

    // 50 concurrent lock attempts on one ticket: exactly one holder.
    let target = tickets[0].id;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let desk = desks[i % 2].clone();
        let who = if i % 2 == 0 { "anna" } else { "root" };
        tasks.push(tokio::spawn(async move {
            (who, desk.lock(&Actor::agent(who), target).await)
        }));
    }
    let mut winners = BTreeSet::new();
    for t in tasks {
        match t.await.unwrap() {
            (who, Ok(c)) if !c.events.is_empty() => {
                winners.insert(who);
            }
            (_, Ok(_)) | (_, Err(Error::Locked { .. })) => {}
            (_, Err(e)) => panic!("lock attempt failed: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "lock holders: {winners:?}");
    let holder = *winners.iter().next().unwrap();

    // Concurrent notes and state changes on one ticket: none lost.
    let busy = tickets[1].id;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let desk = desks[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let anna = Actor::agent("anna");
            if i % 5 == 0 {
                let state = if i % 10 == 0 {
                    "open"
                } else {
                    "pending reminder"
                };
                let until = desk.now() + chrono::Duration::days(3);
                desk.set_state(&anna, busy, state, Some(until))
                    .await
                    .unwrap()
                    .events
                    .len()
            } else {
                desk.note(&anna, busy, Message::text(format!("note {i}")), false, &[])
                    .await
                    .unwrap()
                    .events
                    .len()
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let articles = store_a.articles(busy).await.unwrap();
    assert_eq!(articles.len(), 1 + 32, "every note landed");
    let history = store_a.history(busy).await.unwrap();
    let version = store_b.ticket(busy).await.unwrap().unwrap().version;
    let notes = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AddNote { .. }))
        .count();
    assert_eq!(notes, 32);
    assert!(version > 32, "version {version} after 32 notes");

    // Both instances tick at once: every due ticket is closed exactly once.
    let due = a.now() + chrono::Duration::hours(1);
    for t in &tickets[10..210] {
        a.set_state(
            &Actor::agent("root"),
            t.id,
            "pending auto close+",
            Some(due),
        )
        .await
        .unwrap();
    }
    let later = due + chrono::Duration::minutes(1);
    let (ra, rb) = tokio::join!(a.tick(later), b.tick(later));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.closed + rb.closed,
        200,
        "closed {} + {}",
        ra.closed,
        rb.closed
    );

    // The log, read from either instance, has every event once and in order.
    let log_a = store_a.events_since(0, usize::MAX).await.unwrap();
    let log_b = store_b.events_since(0, usize::MAX).await.unwrap();
    assert_eq!(log_a, log_b);
    let seqs: Vec<u64> = log_a.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let closes = log_a
        .iter()
        .filter(
            |e| matches!(&e.kind, EventKind::StateUpdate { to, .. } if to == "closed successful"),
        )
        .count();
    assert_eq!(closes, 200);
    let followed = follower.await.unwrap();
    assert_eq!(
        followed, seqs,
        "the follower on instance B saw every event once, in order"
    );
    let _ = writeln!(
        std::io::stderr(),
        "{name}: 1,000 creations from two pools in {created:?}; lock holder {holder}; {} events",
        seqs.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances() {
    contention(support::postgres_url().await, "PostgreSQL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_two_instances() {
    contention(support::mysql_url().await, "MariaDB").await;
}

/// A consumer waiting on one instance is woken by a commit on another (LISTEN/NOTIFY), well
/// before its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_wakes_a_waiting_consumer() {
    let Some((a, _b, _store_a, store_b)) = two_desks(support::postgres_url().await).await else {
        let _ = writeln!(std::io::stderr(), "SKIPPED NOTIFY test: no PostgreSQL URL");
        return;
    };
    let last = store_b.events_since(0, usize::MAX).await.unwrap().len() as u64;
    let waiter = tokio::spawn(async move {
        let start = Instant::now();
        store_b
            .wait_for_events(last, Duration::from_secs(30))
            .await
            .unwrap();
        (
            start.elapsed(),
            store_b.events_since(last, 10).await.unwrap().len(),
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.create_ticket(&Actor::System, request(0)).await.unwrap();
    let (waited, fresh) = waiter.await.unwrap();
    assert!(fresh > 0, "woken without news");
    assert!(
        waited < Duration::from_secs(5),
        "waited {waited:?}: not woken by NOTIFY"
    );
    assert!(
        waited >= Duration::from_millis(250),
        "returned before the commit"
    );
}
