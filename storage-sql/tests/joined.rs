//! Concurrent requests that the store joins (single commits into shared transactions, point
//! reads into shared statements on PostgreSQL) each get their own, right answer: found or
//! missing, whatever else was asked at the same time. On SQLite always, on PostgreSQL when
//! `TICKETCORE_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use ticketcore::acl::CustomerUser;
use ticketcore::rules::{self, Ctx, Fresh};
use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{
    Actor, ArticleId, Channel, Message, NewTicket, Op, Priority, Store, StoreError, TicketId,
    TicketNumber,
};
use ticketcore_sql::SqlStore;

async fn joined_answers(store: SqlStore) {
    let store = Arc::new(store);
    for i in 0..20u32 {
        let customer = CustomerUser {
            login: format!("login{i}"),
            name: format!("Customer {i}"),
            email: format!("c{i}@example.org"),
            company: i.is_multiple_of(2).then(|| format!("company{}", i % 4)),
            valid: true,
        };
        store.put_customer(&customer).await.expect("customer");
    }
    let (desk, _) = desk_with(store.clone(), fixture_config(), 7).await;
    let desk = Arc::new(desk);
    let before = store.write_stats().jobs;
    let mut creations = Vec::new();
    for i in 0..64 {
        let desk = desk.clone();
        creations.push(tokio::spawn(async move {
            let mut message = Message::text("joined");
            message.message_id = Some(format!("{i}.joined@example.org"));
            let input = NewTicket::new("Support", format!("joined {i}"), Channel::Email, message)
                .for_customer(format!("login{}", i % 20));
            desk.create_ticket(&Actor::System, input)
                .await
                .expect("create")
        }));
    }
    let mut tickets = Vec::new();
    for c in creations {
        tickets.push(c.await.expect("task").ticket);
    }
    // Every creation went through the joiner, however it grouped them.
    let stats = store.write_stats();
    assert_eq!(stats.jobs - before, 64, "{stats:?}");
    assert!(stats.transactions <= stats.jobs, "{stats:?}");
    for t in &tickets {
        let i: usize = t.title.trim_start_matches("joined ").parse().unwrap();
        let expected = (i % 20)
            .is_multiple_of(2)
            .then(|| format!("company{}", i % 20 % 4));
        assert_eq!(
            t.customer_company, expected,
            "ticket {i} got its customer's company"
        );
    }

    let tickets = Arc::new(tickets);
    let mut reads = Vec::new();
    for round in 0..400usize {
        let (store, tickets) = (store.clone(), tickets.clone());
        reads.push(tokio::spawn(async move {
            let i = round % 40;
            match round % 5 {
                0 => {
                    let found = store.customer(&format!("login{i}")).await.expect("read");
                    assert_eq!(
                        found.map(|c| c.login),
                        (i < 20).then(|| format!("login{i}"))
                    );
                }
                1 => {
                    let found = store
                        .customer_by_email(&format!("C{i}@Example.org"))
                        .await
                        .expect("read");
                    assert_eq!(
                        found.map(|c| c.login),
                        (i < 20).then(|| format!("login{i}"))
                    );
                }
                2 => {
                    let t = &tickets[i % tickets.len()];
                    let found = store.ticket(t.id).await.expect("read");
                    assert_eq!(found.map(|f| f.number), Some(t.number.clone()));
                }
                3 => {
                    let t = &tickets[i % tickets.len()];
                    let found = store.ticket_by_number(&t.number).await.expect("read");
                    assert_eq!(found.map(|f| f.id), Some(t.id));
                    let missing: TicketNumber =
                        serde_json::from_str(&format!("\"99999{i}\"")).unwrap();
                    assert!(
                        store
                            .ticket_by_number(&missing)
                            .await
                            .expect("read")
                            .is_none()
                    );
                }
                _ => {
                    let mid = format!("{}.joined@example.org", i * 2);
                    let found = store.article_by_message_id(&mid).await.expect("read");
                    assert_eq!(
                        found.and_then(|a| a.message_id),
                        (i * 2 < 64).then_some(mid)
                    );
                }
            }
        }));
    }
    for r in reads {
        r.await.expect("every joined read answered rightly");
    }
}

/// A batch large enough to be written in parts side by side: every change gets its own
/// outcome in its own place (a stale update among them fails alone), and the event log holds
/// each event once, in order.
async fn parted_batch(store: SqlStore) {
    let store = Arc::new(store);
    let (desk, _) = desk_with(store.clone(), fixture_config(), 11).await;
    let stale = desk
        .create_ticket(
            &Actor::System,
            NewTicket::new("Support", "old", Channel::Phone, Message::text("x")),
        )
        .await
        .expect("create")
        .ticket;
    desk.apply(
        &Actor::System,
        stale.id,
        Op::SetPriority {
            priority: Priority::new(5).unwrap(),
        },
    )
    .await
    .expect("priority");
    let config = desk.config().await.expect("config");
    let ctx = Ctx {
        config: &config,
        actor: &Actor::System,
        customer: None,
        now: desk.now(),
    };
    let mut batch = Vec::new();
    for i in 0..1200u128 {
        let fresh = Fresh {
            ticket: TicketId(uuid::Uuid::from_u128((5 << 120) + i)),
            number: config
                .numbers
                .format(desk.now().date_naive(), 700_000 + i as u64, 0),
            article: ArticleId(uuid::Uuid::from_u128((6 << 120) + i)),
        };
        let mut message = Message::text("bulk");
        message.message_id = Some(format!("{i}.bulk@example.org"));
        let input = NewTicket::new("Support", format!("bulk {i}"), Channel::Email, message);
        batch.push(rules::create(ctx, &input, &fresh).expect("create"));
        if i == 700 {
            // Computed from the ticket as it was before its priority changed.
            batch.push(
                rules::apply(
                    ctx,
                    &stale,
                    &Op::SetPriority {
                        priority: Priority::new(1).unwrap(),
                    },
                )
                .expect("op"),
            );
        }
    }
    let before = store
        .events_since(0, usize::MAX)
        .await
        .expect("events")
        .len();
    let results = store.commit_batch(batch).await.expect("batch");
    assert_eq!(results.len(), 1201);
    for (i, result) in results.iter().enumerate() {
        if i == 701 {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
            continue;
        }
        let n = if i > 701 { i - 1 } else { i };
        let receipt = result.as_ref().expect("created");
        assert_eq!(
            receipt.events[0].ticket,
            TicketId(uuid::Uuid::from_u128((5 << 120) + n as u128))
        );
    }
    let events = store.events_since(0, usize::MAX).await.expect("events");
    // Each creation: the ticket, its first article, the notice to the queue's readers.
    assert_eq!(events.len() - before, 3600);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    let logged: std::collections::BTreeSet<u64> = events.iter().map(|e| e.seq).collect();
    for receipt in results.iter().flatten() {
        assert!(receipt.events.iter().all(|e| logged.contains(&e.seq)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_a_large_batch_in_order() {
    parted_batch(support::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_a_large_batch_in_parts() {
    on_postgres(parted_batch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_answers_each_joined_request() {
    joined_answers(support::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_answers_each_joined_request() {
    on_postgres(joined_answers).await;
}

/// Runs `test` on a store in a fresh PostgreSQL schema, dropped afterwards, or says why
/// PostgreSQL is skipped.
async fn on_postgres<F: std::future::Future<Output = ()>>(test: impl FnOnce(SqlStore) -> F) {
    let Some((url, schema)) = support::postgres_schema().await else {
        eprintln!(
            "{}",
            support::unavailable(support::POSTGRES).unwrap_or_default()
        );
        return;
    };
    test(SqlStore::connect(&url).await.expect("connect")).await;
    support::drop_postgres_schema(&schema).await;
}
