//! Statistics scenarios: the tallies every commit keeps add up to what happened, only over
//! the queues the viewer may read, and every backend counts what the reference counts.

use std::sync::Arc;

use chrono::Duration;

use super::{desk_with, epoch, fixture_config};
use crate::article::{Channel, Message};
use crate::desk::Desk;
use crate::error::Error;
use crate::event::{Actor, EventKind};
use crate::memory::MemoryStore;
use crate::rules::NewTicket;
use crate::state::StateType;
use crate::stats::{Period, Stats};
use crate::store::Store;
use crate::ticket::Ticket;

/// Four tickets over four days: answered, closed, moved, one left to escalate.
async fn story(store: Arc<dyn Store>) -> (Desk, Vec<Ticket>) {
    let (desk, clock) = desk_with(store, fixture_config(), 3).await;
    let create = |who: &'static str, queue: &'static str| {
        let desk = &desk;
        async move {
            let mut input = NewTicket::new(
                queue,
                format!("{who} asks"),
                Channel::Web,
                Message::text("?"),
            );
            input.customer = Some(who.into());
            desk.create_ticket(&Actor::System, input)
                .await
                .unwrap()
                .ticket
        }
    };
    let t1 = create("karla", "Support").await;
    let t2 = create("kurt", "Finance").await;
    let t3 = create("kim", "Support::Level2").await;
    clock.advance(Duration::minutes(30));
    desk.lock(&Actor::agent("anna"), t1.id).await.unwrap();
    desk.reply(&Actor::agent("anna"), t1.id, Message::text("On it."))
        .await
        .unwrap();
    clock.advance(Duration::days(1));
    desk.set_state(&Actor::agent("anna"), t1.id, "closed successful", None)
        .await
        .unwrap();
    desk.lock(&Actor::agent("bernd"), t2.id).await.unwrap();
    desk.reply(&Actor::agent("bernd"), t2.id, Message::text("Paid."))
        .await
        .unwrap();
    desk.move_ticket(&Actor::agent("root"), t3.id, "Finance")
        .await
        .unwrap();
    clock.advance(Duration::days(1));
    let t4 = create("karla", "Support").await;
    clock.advance(Duration::days(2));
    desk.tick(desk.now()).await.unwrap();
    (desk, vec![t1, t2, t3, t4])
}

fn period() -> Period {
    Period::last_days(epoch().date_naive() + Duration::days(5), 10)
}

/// Statistics count what happened, per queue, day and agent, for what the viewer may read.
pub async fn stats_count_what_happened(store: Arc<dyn Store>) {
    let (desk, tickets) = story(store.clone()).await;
    let root = desk.stats(&Actor::agent("root"), period()).await.unwrap();
    assert_eq!(root.tickets, 4);
    assert_eq!(
        root.by_state_type.get(&StateType::ClosedSuccessful),
        Some(&1)
    );
    assert_eq!(root.created, 4);
    assert_eq!(root.closed, 1);
    let day1 = epoch().date_naive();
    assert_eq!(root.per_day[&day1].created, 3);
    assert_eq!(root.per_day[&(day1 + Duration::days(1))].closed, 1);
    assert_eq!(root.first_response.count, 2);
    assert_eq!(root.queues["Support"].first_response.count, 1);
    let median = root.queues["Support"].first_response.median.unwrap();
    assert!((900..=3600).contains(&median), "30 minutes: {median}");
    assert_eq!(root.solution.count, 1);
    assert_eq!(root.agents["anna"].closed, 1);
    assert_eq!(root.agents["bernd"].first_response.count, 1);
    assert_eq!(
        root.queues["Finance"].now.values().sum::<u64>(),
        2,
        "t3 moved in"
    );
    assert_eq!(
        root.queues
            .get("Support::Level2")
            .map_or(0, |q| q.now.values().sum::<u64>()),
        0
    );
    // Escalations are those the log shows.
    let mut escalations = 0;
    for t in &tickets {
        escalations += desk
            .history(&Actor::System, t.id)
            .await
            .unwrap()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Escalation { .. }))
            .count() as u64;
    }
    assert!(escalations > 0, "t4 was left to escalate");
    assert_eq!(root.escalations, escalations);
    // chris reads Support and Transfer: nothing of Finance, not even bernd's answer.
    let chris = desk.stats(&Actor::agent("chris"), period()).await.unwrap();
    assert_eq!(chris.tickets, 2);
    assert_eq!(chris.created, 3, "t1, t3 (created in Level2), t4");
    assert_eq!(chris.first_response.count, 1);
    assert!(!chris.queues.contains_key("Finance"));
    assert!(!chris.agents.contains_key("bernd"));
    // Outside the period nothing happened; customers have no statistics.
    let before = Period::last_days(day1 - Duration::days(1), 30);
    let quiet = desk.stats(&Actor::agent("root"), before).await.unwrap();
    assert_eq!((quiet.created, quiet.closed, quiet.tickets), (0, 0, 4));
    assert!(matches!(
        desk.stats(&Actor::customer("karla"), period()).await,
        Err(Error::Unauthorized(_))
    ));
    // The reference counts the same.
    let (reference, _) = story(Arc::new(MemoryStore::new())).await;
    for who in ["root", "chris", "bernd"] {
        let actor = Actor::agent(who);
        let ours: Stats = desk.stats(&actor, period()).await.unwrap();
        let theirs: Stats = reference.stats(&actor, period()).await.unwrap();
        assert_eq!(ours, theirs, "{who}'s statistics differ from the reference");
    }
}
