//! The permission property: for random configurations and actors, no query or read ever returns
//! a ticket or article the actor may not see, and every query returns all that it may.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use super::strategies::{self, expected_grants};
use super::{Backend, block_on, desk_with};
use crate::acl::Permission;
use crate::article::{Channel, Message};
use crate::config::Config;
use crate::error::Error;
use crate::event::Actor;
use crate::rules::NewTicket;
use crate::store::TicketQuery;
use crate::ticket::{Ticket, TicketId};

/// A ticket to create: queue index, customer index, internal-note flag.
type Seed = (usize, usize, bool);

/// Runs the property against backend `B`.
pub fn run<B: Backend>() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: strategies::cases(32),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        strategies::config(),
        proptest::collection::vec((0usize..8, 0usize..8, any::<bool>()), 0..24),
        1usize..6,
    );
    let result = runner.run(&strategy, |(config, seeds, page)| {
        block_on(check::<B>(config, seeds, page));
        Ok(())
    });
    if let Err(e) = result {
        panic!("permission property failed: {e}");
    }
}

/// Whether the oracle says `actor` may see `ticket`.
fn may_see(config: &Config, actor: &Actor, ticket: &Ticket) -> bool {
    match actor {
        Actor::System => true,
        Actor::Agent(login) => {
            let grants = expected_grants(config);
            let group = config
                .queues
                .iter()
                .find(|q| q.name == ticket.queue)
                .map(|q| q.group.clone());
            group.is_some_and(|g| {
                grants
                    .get(login)
                    .and_then(|by_group| by_group.get(&g))
                    .is_some_and(|p| p.contains(&Permission::Ro) || p.contains(&Permission::Rw))
            })
        }
        Actor::Customer(login) => {
            let me = config.customers.iter().find(|c| &c.login == login);
            ticket.customer.as_deref() == Some(login.as_str())
                || config.rules.customers_see_company_tickets
                    && me.and_then(|c| c.company.as_ref()).is_some()
                    && ticket.customer_company == me.and_then(|c| c.company.clone())
        }
    }
}

async fn check<B: Backend>(config: Config, seeds: Vec<Seed>, page: usize) {
    let store = B::store().await;
    let (desk, _) = desk_with(store.clone(), config.clone(), 1).await;
    let desk = Arc::new(desk);
    let mut tickets: Vec<TicketId> = Vec::new();
    let mut noted: BTreeSet<TicketId> = BTreeSet::new();
    for (i, (queue, customer, internal)) in seeds.into_iter().enumerate() {
        let queue = &config.queues[queue % config.queues.len()].name;
        let customer = &config.customers[customer % config.customers.len()];
        let mut input = NewTicket::new(
            queue.clone(),
            format!("t{i}"),
            Channel::Email,
            Message::text("customer text"),
        );
        input.customer = Some(customer.login.clone());
        input.customer_company = customer.company.clone();
        let t = desk
            .create_ticket(&Actor::System, input)
            .await
            .expect("system creates");
        let note = crate::rules::Op::Note {
            article: desk.new_article_id(),
            message: Message::text(if internal { "internal" } else { "public" }),
            visible_to_customer: !internal,
            notify: config
                .agents
                .iter()
                .filter(|a| may_see(&config, &Actor::agent(&a.login), &t.ticket))
                .map(|a| a.login.clone())
                .take(1)
                .collect(),
        };
        desk.apply(&Actor::System, t.ticket.id, note)
            .await
            .expect("system notes");
        if internal {
            noted.insert(t.ticket.id);
        }
        tickets.push(t.ticket.id);
    }
    let mut all = Vec::new();
    for id in &tickets {
        all.push(store.ticket(*id).await.expect("read").expect("exists"));
    }
    let actors = config
        .agents
        .iter()
        .map(|a| Actor::agent(&a.login))
        .chain(config.customers.iter().map(|c| Actor::customer(&c.login)))
        .chain([Actor::customer("stranger")]);
    // An agent the configuration does not know is refused at the door, whatever it asks.
    let nobody = Actor::agent("nobody");
    let refused = |r: Result<(), Error>| matches!(r, Err(Error::Unauthorized(_)));
    assert!(refused(
        desk.queue_view(&nobody, TicketQuery::default())
            .await
            .map(drop)
    ));
    for t in &all {
        assert!(refused(desk.ticket(&nobody, t.id).await.map(drop)));
        assert!(refused(desk.articles(&nobody, t.id).await.map(drop)));
        assert!(refused(
            desk.find(&nobody, t.number.as_str()).await.map(drop)
        ));
        assert!(refused(desk.lock(&nobody, t.id).await.map(drop)));
    }
    for actor in actors {
        let expected: BTreeSet<TicketId> = all
            .iter()
            .filter(|t| may_see(&config, &actor, t))
            .map(|t| t.id)
            .collect();
        // The queue view, paged, returns exactly the visible tickets.
        let mut got = BTreeSet::new();
        let mut after = None;
        loop {
            let query = TicketQuery {
                after,
                limit: page,
                ..TicketQuery::default()
            };
            let result = desk.queue_view(&actor, query).await.expect("query");
            for t in &result.tickets {
                assert!(
                    may_see(&config, &actor, t),
                    "{actor} got ticket {} in queue {} from the queue view",
                    t.number,
                    t.queue
                );
                assert!(got.insert(t.id), "ticket returned twice");
            }
            match result.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "{actor} sees exactly the visible tickets");
        // Search, paged, finds exactly the visible tickets with the word; a word only in
        // internal notes never matches for a customer, nor shows in a snippet.
        let customer = matches!(actor, Actor::Customer(_));
        let internal: BTreeSet<TicketId> = if customer {
            BTreeSet::new()
        } else {
            expected.intersection(&noted).copied().collect()
        };
        for (words, wanted) in [("customer texts", &expected), ("internal", &internal)] {
            let mut found = BTreeSet::new();
            let mut paging = crate::finding::Paging {
                after: None,
                limit: page,
            };
            loop {
                let results = desk.search(&actor, words, paging).await.expect("search");
                for hit in &results.hits {
                    assert!(
                        may_see(&config, &actor, &hit.ticket),
                        "{actor} found ticket {} in queue {}",
                        hit.ticket.number,
                        hit.ticket.queue
                    );
                    assert!(found.insert(hit.ticket.id), "found twice");
                    if customer {
                        assert!(!hit.snippet.text.contains("internal"), "{actor} saw a note");
                    }
                }
                match results.next {
                    Some(next) => paging.after = Some(next),
                    None => break,
                }
            }
            assert_eq!(
                &found, wanted,
                "{actor} finds exactly its share for {words:?}"
            );
        }
        // The event log, paged: exactly the events of visible tickets that concern the actor.
        let log = desk
            .events_since(&Actor::System, 0, usize::MAX)
            .await
            .expect("the log")
            .events;
        let wanted: Vec<u64> = log
            .iter()
            .filter(|e| {
                all.iter()
                    .any(|t| t.id == e.ticket && may_see(&config, &actor, t))
                    && (!customer || e.kind.customer_visible())
            })
            .map(|e| e.seq)
            .collect();
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let page = desk
                .events_since(&actor, cursor, page)
                .await
                .expect("events");
            if page.cursor == cursor {
                break;
            }
            cursor = page.cursor;
            for e in page.events {
                if customer {
                    assert!(
                        !matches!(&e.kind, crate::event::EventKind::AddNote { notify, .. } if !notify.is_empty()),
                        "{actor} saw whom a note notifies"
                    );
                }
                seen.push(e.seq);
            }
        }
        assert_eq!(seen, wanted, "{actor} pages exactly its share of the log");
        // Following live gives the same events, and nothing more.
        {
            use futures_util::StreamExt;
            let stream = desk.follow(actor.clone(), 0);
            futures_util::pin_mut!(stream);
            let mut followed = Vec::new();
            for _ in 0..wanted.len() {
                followed.push(stream.next().await.expect("open").expect("event").seq);
            }
            assert_eq!(
                followed, wanted,
                "{actor} follows exactly its share of the log"
            );
            let more = tokio::time::timeout(std::time::Duration::from_millis(10), stream.next());
            assert!(more.await.is_err(), "{actor} followed more than its share");
        }
        // Direct reads agree, and customers never get internal articles or notes.
        for t in &all {
            let visible = may_see(&config, &actor, t);
            match desk.ticket(&actor, t.id).await {
                Ok(_) => assert!(visible, "{actor} read {}", t.number),
                Err(Error::NotFound(_)) => assert!(!visible, "{actor} denied {}", t.number),
                Err(e) => panic!("unexpected {e}"),
            }
            match desk.articles(&actor, t.id).await {
                Ok(articles) => {
                    assert!(visible);
                    if let Actor::Customer(_) = actor {
                        assert!(articles.iter().all(|a| a.visible_to_customer));
                        assert!(articles.iter().all(|a| a.body != "internal"));
                    } else {
                        assert_eq!(articles.len(), 2);
                    }
                }
                Err(_) => assert!(!visible),
            }
            match desk.find(&actor, t.number.as_str()).await {
                Ok(found) => assert!(visible && found.id == t.id, "{actor} found {}", t.number),
                Err(Error::NotFound(_)) => assert!(!visible, "{actor} cannot find {}", t.number),
                Err(e) => panic!("unexpected {e}"),
            }
            match desk.history(&actor, t.id).await {
                Ok(_) => assert!(visible, "{actor} read the history of {}", t.number),
                Err(Error::NotFound(_)) => assert!(!visible),
                Err(e) => panic!("unexpected {e}"),
            }
            if !visible {
                // Acting on a ticket one cannot see reveals nothing about it, not even its
                // queue in a permission error.
                match desk.lock(&actor, t.id).await {
                    Err(Error::NotFound(_)) => {}
                    other => panic!("{actor} locking unseen {}: {other:?}", t.number),
                }
            }
        }
    }
    drop(desk);
    B::release(store).await;
}
