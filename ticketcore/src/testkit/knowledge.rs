//! FAQ scenarios: entries are versioned, seen by state and category permissions, found in
//! their inflected forms, sent as replies, and every backend finds what the reference finds.

use std::sync::Arc;

use super::{desk_with, fixture_config};
use crate::article::{Channel, Message, NewAttachment};
use crate::config::{Config, FaqCategory};
use crate::desk::Desk;
use crate::error::Error;
use crate::event::{Actor, EventKind};
use crate::faq::FaqState;
use crate::knowledge::{FaqEdit, FaqResults, NewFaq};
use crate::memory::MemoryStore;
use crate::rules::NewTicket;
use crate::store::{Store, StoreError};

/// The fixture with FAQ categories: two of support (one a sub-category), one of finance.
fn config() -> Config {
    let mut config = fixture_config();
    config.faq_categories = vec![
        FaqCategory::new("Allgemein", "support"),
        FaqCategory::new("Allgemein::Drucker", "support"),
        FaqCategory::new("Finanzen", "finance"),
    ];
    config
}

fn agent(login: &str) -> Actor {
    Actor::agent(login)
}

fn entry(title: &str, category: &str, text: &str, state: FaqState) -> NewFaq {
    NewFaq {
        language: "de".into(),
        state,
        ..NewFaq::new(title, category, text)
    }
}

/// Entries 1 to 4: public with an attachment, internal, draft (by anna, in support's
/// categories), internal in finance (by bernd).
async fn story(store: Arc<dyn Store>) -> Desk {
    let (desk, _) = desk_with(store, config(), 5).await;
    let mut invoices = entry(
        "Rechnungen bezahlen",
        "Allgemein",
        "Überweisen Sie den Betrag auf das Vereinskonto; die Bankverbindung steht im Anhang.",
        FaqState::Public,
    );
    invoices.keywords = vec!["Zahlung".into(), "Konto".into()];
    invoices.attachments = vec![NewAttachment {
        name: "kontodaten.pdf".into(),
        content_type: "application/pdf".into(),
        inline: false,
        data: b"%PDF-1.4 IBAN DE00".to_vec(),
    }];
    let numbers = [
        desk.faq_add(&agent("anna"), invoices).await.unwrap().number,
        desk.faq_add(
            &agent("anna"),
            entry(
                "Drucker defekt",
                "Allgemein::Drucker",
                "Wenn der Drucker defekte Seiten druckt, Toner tauschen.",
                FaqState::Internal,
            ),
        )
        .await
        .unwrap()
        .number,
        desk.faq_add(
            &agent("anna"),
            entry(
                "Entwurf: Rechnung stornieren",
                "Allgemein",
                "Noch nicht fertig.",
                FaqState::Draft,
            ),
        )
        .await
        .unwrap()
        .number,
        desk.faq_add(
            &agent("bernd"),
            entry(
                "Beitragsrechnung",
                "Finanzen",
                "Die Rechnung für den Beitrag kommt im Januar.",
                FaqState::Internal,
            ),
        )
        .await
        .unwrap()
        .number,
    ];
    assert_eq!(numbers, [1, 2, 3, 4], "numbers come from the faq counter");
    desk
}

/// Entry 2 rewritten about a scanner and made public (by anna).
async fn publish_scanner(desk: &Desk) -> crate::faq::FaqEntry {
    desk.faq_edit(
        &agent("anna"),
        2,
        FaqEdit {
            title: Some("Scanner kaputt".into()),
            text: Some("Den Scanner neu starten.".into()),
            state: Some(FaqState::Public),
            ..FaqEdit::default()
        },
    )
    .await
    .unwrap()
}

fn numbers(results: &FaqResults) -> Vec<u64> {
    results.hits.iter().map(|h| h.entry.number).collect()
}

async fn found(desk: &Desk, reader: Option<&Actor>, query: &str) -> Vec<u64> {
    numbers(&desk.faq_search(reader, query, None, 50).await.unwrap())
}

/// The FAQ: permissions per state and category, search in inflected forms, versions with
/// compare-and-swap, attachments, sending an entry as a reply, and the same answers as the
/// reference.
pub async fn faq_is_found_versioned_and_sent(store: Arc<dyn Store>) {
    let desk = story(store.clone()).await;
    let (anna, bernd, chris) = (agent("anna"), agent("bernd"), agent("chris"));
    let karla = Actor::customer("karla");

    // Writing needs rw on the category's group.
    let refused = desk
        .faq_add(&anna, entry("x", "Finanzen", "y", FaqState::Public))
        .await;
    assert!(
        matches!(refused, Err(Error::FaqDenied { .. })),
        "{refused:?}"
    );
    for who in [&chris, &karla] {
        let refused = desk
            .faq_add(who, entry("x", "Allgemein", "y", FaqState::Public))
            .await;
        assert!(
            matches!(refused, Err(Error::FaqDenied { .. })),
            "{refused:?}"
        );
    }
    assert!(matches!(
        desk.faq_add(&anna, entry("x", "Nirgends", "y", FaqState::Public))
            .await,
        Err(Error::Invalid(_))
    ));

    // Who sees which entry: public for all, internal by ro, drafts by rw.
    for (reader, visible) in [
        (None, vec![1]),
        (Some(&karla), vec![1]),
        (Some(&chris), vec![2, 1]),
        (Some(&anna), vec![3, 2, 1]),
        (Some(&bernd), vec![4, 2, 1]),
        (Some(&Actor::System), vec![4, 3, 2, 1]),
    ] {
        let listed = numbers(&desk.faq_list(reader, None, None, 50).await.unwrap());
        assert_eq!(listed, visible, "{reader:?} lists");
        for number in 1..=4 {
            let read = desk.faq_entry(reader, number).await;
            assert_eq!(
                read.is_ok(),
                visible.contains(&number),
                "{reader:?} reads {number}"
            );
            if read.is_err() {
                assert!(matches!(read, Err(Error::NotFound(_))));
            }
        }
    }
    assert!(matches!(
        desk.faq_entry(None, 99).await,
        Err(Error::NotFound(_))
    ));

    // Inflected forms, phrases, exclusions and the FAQ's own filters.
    assert_eq!(found(&desk, None, "Rechnung").await, [1]);
    assert_eq!(
        found(&desk, Some(&anna), "rechnung").await,
        [3, 1],
        "title hits first, then newest"
    );
    assert_eq!(
        found(&desk, Some(&bernd), "Rechnungen").await,
        [1, 4],
        "a title hit weighs more"
    );
    assert_eq!(found(&desk, Some(&chris), "defekt").await, [2]);
    assert_eq!(found(&desk, None, "defekte").await, Vec::<u64>::new());
    assert_eq!(found(&desk, Some(&chris), "\"toner tauschen\"").await, [2]);
    assert_eq!(
        found(&desk, Some(&chris), "\"tauschen toner\"").await,
        Vec::<u64>::new()
    );
    assert_eq!(found(&desk, Some(&anna), "rechnung -stornieren").await, [1]);
    assert_eq!(found(&desk, Some(&anna), "zahlung").await, [1], "keywords");
    assert_eq!(
        found(&desk, None, "kontodaten").await,
        [1],
        "attachment names"
    );
    assert_eq!(
        found(&desk, Some(&anna), "category:allgemein").await,
        [3, 2, 1]
    );
    assert_eq!(
        found(&desk, Some(&anna), "category:Allgemein::Drucker").await,
        [2]
    );
    assert_eq!(
        found(&desk, Some(&anna), "rechnung language:en").await,
        Vec::<u64>::new()
    );
    assert_eq!(
        found(&desk, Some(&anna), "rechnung language:DE").await,
        [3, 1]
    );
    let snippet = &desk.faq_search(None, "Betrag", None, 5).await.unwrap().hits[0].snippet;
    assert!(
        snippet.marked("[", "]").contains("den [Betrag] auf"),
        "{snippet:?}"
    );
    assert!(matches!(
        desk.faq_search(None, "queue:Support", None, 5).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        desk.search(&anna, "category:Allgemein", Default::default())
            .await,
        Err(Error::Invalid(_))
    ));

    // Paging: one at a time, newest first, nothing twice.
    let mut after = None;
    let mut paged = Vec::new();
    for _ in 0..10 {
        let page = desk.faq_list(Some(&anna), None, after, 1).await.unwrap();
        paged.extend(numbers(&page));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, [3, 2, 1]);
    let first = desk
        .faq_search(Some(&anna), "rechnung", None, 1)
        .await
        .unwrap();
    let second = desk
        .faq_search(Some(&anna), "rechnung", first.next, 1)
        .await
        .unwrap();
    assert_eq!((numbers(&first), numbers(&second)), (vec![3], vec![1]));
    assert!(second.next.is_none());

    // Every change is a version; the old terms go with the old version.
    let edited = publish_scanner(&desk).await;
    assert_eq!(edited.version, 2);
    assert_eq!(
        found(&desk, Some(&chris), "drucker").await,
        Vec::<u64>::new()
    );
    assert_eq!(found(&desk, None, "scanner").await, [2], "public now");
    let versions = desk.faq_versions(&chris, 2).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(versions[0].title, "Drucker defekt");
    let changes = versions[1].changes_since(&versions[0]);
    assert!(
        changes.iter().any(|c| c.starts_with("title")),
        "{changes:?}"
    );
    assert!(
        changes.iter().any(|c| c.starts_with("state")),
        "{changes:?}"
    );
    assert!(matches!(
        desk.faq_versions(&karla, 2).await,
        Err(Error::NotFound(_))
    ));
    let unchanged = desk.faq_edit(&anna, 2, FaqEdit::default()).await.unwrap();
    assert_eq!(
        unchanged.version, 2,
        "an edit that changes nothing stores nothing"
    );
    assert!(
        matches!(
            desk.faq_edit(
                &anna,
                4,
                FaqEdit {
                    title: Some("x".into()),
                    ..FaqEdit::default()
                }
            )
            .await,
            Err(Error::NotFound(_))
        ),
        "anna cannot even see finance's internal entry"
    );
    assert!(matches!(
        desk.faq_edit(
            &chris,
            2,
            FaqEdit {
                title: Some("x".into()),
                ..FaqEdit::default()
            }
        )
        .await,
        Err(Error::FaqDenied { .. })
    ));
    // A stale version is a conflict in the store.
    let mut stale = versions[1].clone();
    stale.title = "stale".into();
    assert!(matches!(
        store.save_faq(&stale, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.faq_entry(2).await.unwrap().unwrap().title,
        "Scanner kaputt"
    );

    // Attachments go to those who see the entry.
    let pdf = desk.faq_entry(None, 1).await.unwrap().attachments[0].clone();
    assert_eq!(
        desk.faq_attachment(None, 1, &pdf.hash).await.unwrap(),
        b"%PDF-1.4 IBAN DE00"
    );
    assert!(desk.faq_attachment(None, 2, &pdf.hash).await.is_err());
    let detached = desk
        .faq_edit(
            &anna,
            1,
            FaqEdit {
                detach: vec!["kontodaten.pdf".into()],
                ..FaqEdit::default()
            },
        )
        .await
        .unwrap();
    assert!(detached.attachments.is_empty());
    let restored = desk
        .faq_edit(
            &anna,
            1,
            FaqEdit {
                attach: vec![NewAttachment {
                    name: "kontodaten.pdf".into(),
                    content_type: "application/pdf".into(),
                    inline: false,
                    data: b"%PDF-1.4 IBAN DE00".to_vec(),
                }],
                ..FaqEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(restored.version, 3);

    // Sending an entry answers the customer with its text and attachments, recorded.
    let mut input = NewTicket::new(
        "Support",
        "Wie bezahle ich?",
        Channel::Web,
        Message::text("?"),
    );
    input.customer = Some("karla".into());
    let ticket = desk.create_ticket(&karla, input).await.unwrap().ticket;
    desk.send_faq(&anna, ticket.id, 1).await.unwrap();
    let articles = desk.articles(&karla, ticket.id).await.unwrap();
    let reply = articles.last().unwrap();
    assert!(reply.body.starts_with("Rechnungen bezahlen\n\n"));
    assert!(reply.body.contains("Vereinskonto"));
    assert_eq!(reply.attachments.len(), 1);
    assert_eq!(reply.attachments[0].hash, pdf.hash);
    let history = desk.history(&anna, ticket.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(e.kind, EventKind::SendAnswer { faq: Some(1), .. }))
    );
    assert!(
        matches!(
            desk.send_faq(&anna, ticket.id, 3).await,
            Err(Error::Invalid(_))
        ),
        "a draft is not sent"
    );
    assert!(matches!(
        desk.send_faq(&chris, ticket.id, 1).await,
        Err(Error::Denied { .. } | Error::Locked { .. })
    ));
    assert!(
        matches!(
            desk.send_faq(&anna, ticket.id, 4).await,
            Err(Error::NotFound(_))
        ),
        "an entry anna cannot read"
    );

    // The categories a reader finds entries in.
    let names = |c: Vec<FaqCategory>| c.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(
        names(desk.faq_categories(None).await.unwrap()),
        ["Allgemein", "Allgemein::Drucker"]
    );
    assert_eq!(
        names(desk.faq_categories(Some(&bernd)).await.unwrap()),
        ["Allgemein", "Allgemein::Drucker", "Finanzen"]
    );

    // The reference finds the same for every reader and query.
    let reference = story(Arc::new(MemoryStore::new())).await;
    publish_scanner(&reference).await;
    for reader in [None, Some(&karla), Some(&anna), Some(&bernd), Some(&chris)] {
        for query in [
            "rechnung",
            "scanner",
            "-rechnung",
            "beitrag konto",
            "category:Finanzen",
        ] {
            assert_eq!(
                found(&desk, reader, query).await,
                found(&reference, reader, query).await,
                "{reader:?} searching {query:?}"
            );
        }
    }
}
