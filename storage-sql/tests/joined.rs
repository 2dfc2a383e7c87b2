//! Concurrent requests that the store joins (single commits into shared transactions, point
//! reads into shared statements on PostgreSQL) each get their own, right answer: found or
//! missing, whatever else was asked at the same time. On SQLite always, on PostgreSQL when
//! `TICKETCORE_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use ticketcore::acl::CustomerUser;
use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{Actor, Channel, Message, NewTicket, Store, TicketNumber};
use ticketcore_sql::SqlStore;

async fn joined_answers(store: SqlStore) {
    let store = Arc::new(store);
    for i in 0..20u32 {
        let customer = CustomerUser {
            login: format!("login{i}"),
            name: format!("Customer {i}"),
            email: format!("c{i}@example.org"),
            company: i.is_multiple_of(2).then(|| format!("company{}", i % 4)),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_answers_each_joined_request() {
    joined_answers(support::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_answers_each_joined_request() {
    let Some((url, schema)) = support::postgres_schema().await else {
        eprintln!(
            "{}",
            support::unavailable(support::POSTGRES).unwrap_or_default()
        );
        return;
    };
    joined_answers(SqlStore::connect(&url).await.expect("connect")).await;
    support::drop_postgres_schema(&schema).await;
}
