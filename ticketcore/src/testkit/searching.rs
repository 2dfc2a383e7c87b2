//! Search scenarios: the query language, inflected forms, permissions inside the query,
//! pages, snippets and rebuilds, each checked against expected tickets and against the
//! reference [`MemoryStore`] running the same corpus.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;

use super::{desk_with, fixture_config};
use crate::article::{Channel, Message, NewAttachment};
use crate::desk::Desk;
use crate::error::Error;
use crate::event::Actor;
use crate::finding::Paging;
use crate::memory::MemoryStore;
use crate::rules::NewTicket;
use crate::store::Store;
use crate::ticket::Ticket;

/// The corpus: five tickets over five days, with notes, a reply, an owner and a closed one.
async fn corpus(store: Arc<dyn Store>) -> (Desk, Vec<Ticket>) {
    let (desk, clock) = desk_with(store, fixture_config(), 11).await;
    let system = Actor::System;
    let specs: [(&str, &str, &str, &str, &str); 5] = [
        (
            "karla",
            "Support",
            "Rechnungen doppelt",
            "Karla <karla@acme.example>",
            "Ich habe zwei Rechnungen für März bekommen. Die Überweisung ging raus.",
        ),
        (
            "kurt",
            "Finance",
            "Drucker defekt",
            "kurt@acme.example",
            "Unser Drucker ist kaputt und zeigt Fehler E42.",
        ),
        (
            "kim",
            "Support",
            "Printer broken",
            "Kim <kim@example.net>",
            "Our printers are broken since Monday; the invoice printer too.",
        ),
        (
            "karla",
            "Support::Level2",
            "Passwort vergessen",
            "karla@acme.example",
            "Bitte Passwort zurücksetzen, Herr Müller braucht Zugang.",
        ),
        (
            "kim",
            "Transfer",
            "Umzug",
            "kim@example.net",
            "Der Drucker muss umziehen.",
        ),
    ];
    let mut tickets = Vec::new();
    for (customer, queue, title, from, body) in specs {
        let mut message = Message::text(body);
        message.from = from.into();
        if title == "Drucker defekt" {
            message.attachments.push(NewAttachment {
                name: "fehlerbild.png".into(),
                content_type: "image/png".into(),
                inline: false,
                data: vec![1, 2, 3],
            });
        }
        let mut input = NewTicket::new(queue, title, Channel::Email, message);
        input.customer = Some(customer.into());
        input.customer_company = (customer != "kim").then(|| "ACME".to_string());
        let t = desk.create_ticket(&system, input).await.unwrap().ticket;
        tickets.push(t);
        clock.advance(Duration::days(1));
    }
    let anna = Actor::agent("anna");
    desk.note(
        &anna,
        tickets[0].id,
        Message::text("Geheim: der Kunde zahlt die Rechnung später."),
        false,
        &[],
    )
    .await
    .unwrap();
    desk.lock(&anna, tickets[0].id).await.unwrap();
    desk.reply(
        &anna,
        tickets[0].id,
        Message::text("Wir prüfen die doppelte Buchung."),
    )
    .await
    .unwrap();
    desk.set_state(&anna, tickets[2].id, "closed successful", None)
        .await
        .unwrap();
    desk.set_owner(&Actor::agent("bernd"), tickets[1].id, Some("bernd"))
        .await
        .unwrap();
    (desk, tickets)
}

/// Every hit of `query` for `actor`, all pages of `limit`, as corpus indexes.
async fn found(
    desk: &Desk,
    tickets: &[Ticket],
    actor: &Actor,
    query: &str,
    limit: usize,
) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut paging = Paging { after: None, limit };
    loop {
        let results = desk
            .search(actor, query, paging)
            .await
            .unwrap_or_else(|e| panic!("{actor} searching {query:?}: {e}"));
        for hit in results.hits {
            let i = tickets
                .iter()
                .position(|t| t.id == hit.ticket.id)
                .expect("a corpus ticket");
            assert!(out.insert(i), "{query:?} found ticket {i} twice");
        }
        match results.next {
            Some(next) => paging.after = Some(next),
            None => return out,
        }
    }
}

fn set(items: &[usize]) -> BTreeSet<usize> {
    items.iter().copied().collect()
}

/// The query language finds inflected German and English words, phrases in order, excludes
/// words, and filters by queue, state, owner, customer, sender and creation day; every
/// backend finds what the reference store finds.
pub async fn search_finds_what_was_written(store: Arc<dyn Store>) {
    let (desk, tickets) = corpus(store).await;
    let root = Actor::agent("root");
    let number = tickets[3].number.to_string();
    let cases: Vec<(&str, Vec<usize>)> = vec![
        ("Rechnung", vec![0]),
        ("drucker", vec![1, 4]),
        ("kaputte Drucker", vec![1]),
        ("printer", vec![2]),
        ("PRINTERS broken", vec![2]),
        ("\"drucker defekt\"", vec![1]),
        ("\"defekt drucker\"", vec![]),
        ("drucker -umziehen", vec![1]),
        ("drucker -\"muss umziehen\"", vec![1]),
        ("Mueller", vec![3]),
        ("ueberweisung", vec![0]),
        ("from:kim@example.net", vec![2, 4]),
        ("from:example.net printer", vec![2]),
        ("customer:karla", vec![0, 3]),
        ("customer:acme -passwort", vec![0, 1]),
        ("queue:support", vec![0, 2, 3]),
        ("queue:Support::Level2", vec![3]),
        ("state:closed", vec![2]),
        ("state:\"closed successful\" printer", vec![2]),
        ("state:new", vec![1, 3, 4]),
        ("owner:bernd", vec![1]),
        ("owner:bernd printer", vec![]),
        ("fehlerbild", vec![1]),
        (number.as_str(), vec![3]),
        ("created:>=2026-03-04", vec![2, 3, 4]),
        ("created:<2026-03-03", vec![0]),
        ("created:2026-03-03", vec![1]),
        ("geheim", vec![0]),
        ("doppelte Buchung", vec![0]),
        ("nirgendwo", vec![]),
    ];
    for (query, want) in &cases {
        assert_eq!(
            found(&desk, &tickets, &root, query, 2).await,
            set(want),
            "root searching {query:?}"
        );
    }
    // Permissions are part of the query.
    let perms: [(&str, &str, &[usize]); 9] = [
        ("bernd", "drucker", &[1]),
        ("chris", "drucker", &[4]),
        ("anna", "drucker", &[]),
        ("anna", "geheim", &[0]),
        ("karla", "geheim", &[]),
        ("karla", "Rechnung", &[0]),
        ("kurt", "doppelte Buchung", &[0]),
        ("kim", "Rechnung", &[]),
        ("kim", "drucker", &[4]),
    ];
    for (who, query, want) in perms {
        let actor = if ["karla", "kurt", "kim"].contains(&who) {
            Actor::customer(who)
        } else {
            Actor::agent(who)
        };
        assert_eq!(
            found(&desk, &tickets, &actor, query, 3).await,
            set(want),
            "{who} searching {query:?}"
        );
    }
    // The same queries find the same tickets on the reference store.
    let (reference, ref_tickets) = corpus(Arc::new(MemoryStore::new())).await;
    let actors = [
        Actor::agent("root"),
        Actor::agent("anna"),
        Actor::agent("bernd"),
        Actor::customer("kurt"),
        Actor::customer("kim"),
    ];
    for actor in &actors {
        for (query, _) in &cases {
            let query = query.replace(&number, ref_tickets[3].number.as_str());
            assert_eq!(
                found(&desk, &tickets, actor, &query, 4).await,
                found(&reference, &ref_tickets, actor, &query, 4).await,
                "{actor} searching {query:?}: backend and reference differ"
            );
        }
    }
    // Bad queries say why.
    for bad in ["", "created:soon", "-state:new"] {
        assert!(
            matches!(
                desk.search(&root, bad, Paging::default()).await,
                Err(Error::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        desk.search(&Actor::agent("nobody"), "drucker", Paging::default())
            .await,
        Err(Error::Unauthorized(_))
    ));
}

/// Hits come best first, ties newest first; pages cover every hit exactly once; snippets
/// mark the matches and show a customer nothing internal; a rebuild finds the same.
pub async fn search_ranks_pages_and_explains(store: Arc<dyn Store>) {
    let (desk, clock) = desk_with(store, fixture_config(), 5).await;
    let mut made = Vec::new();
    for i in 0..11usize {
        let body = format!("{} Ende.", "Toner ".repeat(1 + i % 3));
        let mut input = NewTicket::new(
            "Support",
            format!("Anfrage {i}"),
            Channel::Web,
            Message::text(body),
        );
        input.customer = Some("karla".into());
        made.push(
            desk.create_ticket(&Actor::System, input)
                .await
                .unwrap()
                .ticket,
        );
        clock.advance(Duration::minutes(5));
    }
    let root = Actor::agent("root");
    let mut order = Vec::new();
    let mut paging = Paging {
        after: None,
        limit: 4,
    };
    loop {
        let results = desk.search(&root, "toner", paging).await.unwrap();
        assert!(results.hits.len() <= 4);
        order.extend(results.hits);
        assert!(order.len() <= 11, "pages repeat hits");
        match results.next {
            Some(next) => paging.after = Some(next),
            None => break,
        }
    }
    assert_eq!(order.len(), 11);
    let ids: BTreeSet<_> = order.iter().map(|h| h.ticket.id).collect();
    assert_eq!(ids.len(), 11, "every hit once");
    for pair in order.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.score > b.score || a.score == b.score && a.ticket.created > b.ticket.created,
            "order: {} ({}) before {} ({})",
            a.ticket.title,
            a.score,
            b.ticket.title,
            b.score
        );
    }
    // More occurrences rank higher: a ticket saying it three times before one saying it once.
    let rank = |i: usize| {
        order
            .iter()
            .position(|h| h.ticket.id == made[i].id)
            .unwrap()
    };
    assert!(rank(2) < rank(0), "three mentions before one");
    assert!(rank(3) < rank(0), "the newer of equal tickets first");
    let snippet = &order[0].snippet;
    assert!(
        snippet.marked("[", "]").starts_with("[Toner]"),
        "{snippet:?}"
    );

    // A customer's snippet never shows an internal note, even when only the note matches
    // for an agent.
    let t = &made[0];
    desk.note(
        &root,
        t.id,
        Message::text("Vertraulich: Toner wird nicht mehr geliefert."),
        false,
        &[],
    )
    .await
    .unwrap();
    let karla = Actor::customer("karla");
    let theirs = desk
        .search(
            &karla,
            "toner",
            Paging {
                after: None,
                limit: 50,
            },
        )
        .await
        .unwrap();
    assert_eq!(theirs.hits.len(), 11);
    assert!(
        theirs
            .hits
            .iter()
            .all(|h| !h.snippet.text.contains("Vertraulich"))
    );
    assert!(
        desk.search(&karla, "vertraulich", Paging::default())
            .await
            .unwrap()
            .hits
            .is_empty()
    );
    let agent_hits = desk
        .search(&root, "vertraulich", Paging::default())
        .await
        .unwrap();
    assert_eq!(agent_hits.hits.len(), 1);
    assert!(
        agent_hits.hits[0]
            .snippet
            .marked("[", "]")
            .contains("[Vertraulich]")
    );

    // A rebuild finds the same; only the system may run it.
    let before = desk
        .search(&root, "toner -ende", Paging::default())
        .await
        .unwrap();
    assert!(before.hits.is_empty());
    assert!(matches!(
        desk.reindex(&root).await,
        Err(Error::Unauthorized(_))
    ));
    assert_eq!(desk.reindex(&Actor::System).await.unwrap(), 11);
    let again = |q: &'static str| {
        let desk = &desk;
        let root = &root;
        async move {
            desk.search(
                root,
                q,
                Paging {
                    after: None,
                    limit: 50,
                },
            )
            .await
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.ticket.id)
            .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(again("toner").await, ids);
    assert_eq!(again("vertraulich").await, BTreeSet::from([t.id]));
    assert_eq!(
        desk.search(&karla, "vertraulich", Paging::default())
            .await
            .unwrap()
            .hits
            .len(),
        0
    );
}
