//! Mailboxes as sources: a Maildir message leaves `new/` only once delivered; an mbox import
//! is idempotent, so running it again takes nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{mail, setup};
use ticketcore_mail::source::{deliver_maildir, deliver_mbox};
use ticketcore_mail::{Outcome, Postmaster};

#[tokio::test]
async fn maildir_messages_move_to_cur_once_delivered() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for i in 0..3 {
        let raw = mail(
            "k@example.org",
            "support@desk.example",
            &format!("m{i}"),
            &format!("md{i}@k"),
            "",
        );
        std::fs::write(dir.path().join("new").join(format!("100{i}.host")), raw).unwrap();
    }
    std::fs::write(dir.path().join("new").join("1009.host"), b"").unwrap();
    let handled = deliver_maildir(&s.postmaster, dir.path(), |_| {})
        .await
        .unwrap();
    assert_eq!(handled.len(), 4);
    assert_eq!(handled.iter().filter(|h| h.result.is_ok()).count(), 3);
    assert_eq!(
        std::fs::read_dir(dir.path().join("new")).unwrap().count(),
        0
    );
    let mut cur: Vec<String> = std::fs::read_dir(dir.path().join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cur.sort();
    assert_eq!(
        cur,
        [
            "1000.host:2,S",
            "1001.host:2,S",
            "1002.host:2,S",
            "1009.host:2,F"
        ]
    );
}

#[tokio::test]
async fn an_mbox_import_run_twice_takes_nothing_twice() {
    let s = setup().await;
    let postmaster = Arc::new(Postmaster::new(s.desk.clone()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.mbox");
    let mut mbox = Vec::new();
    for i in 0..40 {
        mbox.extend_from_slice(
            format!("From k{i}@example.org Mon Mar  2 09:00:00 2026\n").as_bytes(),
        );
        let body = mail(
            &format!("k{i}@example.org"),
            "support@desk.example",
            &format!("import {i}"),
            &format!("mb{i}@k"),
            "",
        );
        mbox.extend_from_slice(&body);
        mbox.extend_from_slice(b"\n");
    }
    std::fs::write(&path, &mbox).unwrap();
    let mut seen = 0;
    let first = deliver_mbox(postmaster.clone(), &path, 8, |_| seen += 1)
        .await
        .unwrap();
    assert_eq!(seen, 40);
    assert!(
        first
            .iter()
            .all(|h| matches!(&h.result, Ok(d) if d.outcome == Outcome::Created))
    );
    let again = deliver_mbox(postmaster, &path, 8, |_| {}).await.unwrap();
    assert!(
        again
            .iter()
            .all(|h| matches!(&h.result, Ok(d) if d.outcome == Outcome::Duplicate))
    );
    let page = s
        .store
        .query(&ticketcore::TicketQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.tickets.len(), 40);
}

/// An archive keeps conversations together: a reply right behind the message it answers,
/// both in the same window of messages in flight, still follows up on that message's ticket,
/// and so does a reply to that reply; the messages behind a waiting reply go on meanwhile.
/// Two replies that claim to answer each other are both taken in, not left waiting.
/// (On redb, whose commits really wait for the writer thread, so deliveries interleave.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mbox_reply_waits_for_the_message_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.mbox");
    let mut mbox = Vec::new();
    let mut add = |from: &str, subject: &str, id: &str, answers: &[&str]| {
        let refs: Vec<String> = answers.iter().map(|a| format!("<{a}>")).collect();
        let headers = match refs.last() {
            Some(parent) => format!(
                "In-Reply-To: {parent}\r\nReferences: {}\r\n",
                refs.join(" ")
            ),
            None => String::new(),
        };
        mbox.extend_from_slice(format!("From {from} Mon Mar  2 09:00:00 2026\n").as_bytes());
        mbox.extend_from_slice(&mail(from, "support@desk.example", subject, id, &headers));
        mbox.extend_from_slice(b"\n");
    };
    add("p@example.org", "a pair's parent", "pair-p@k", &[]);
    add(
        "x@example.org",
        "one of a pair",
        "pair-x@k",
        &["pair-y@k", "pair-p@k"],
    );
    add(
        "y@example.org",
        "other of a pair",
        "pair-y@k",
        &["pair-x@k"],
    );
    for i in 0..20 {
        let from = format!("t{i}@example.org");
        let (original, reply) = (format!("t{i}@k"), format!("t{i}-re@k"));
        add(&from, &format!("thread {i}"), &original, &[]);
        add(&from, &format!("Re: thread {i}"), &reply, &[&original]);
        add(
            &from,
            &format!("Re: Re: thread {i}"),
            &format!("t{i}-re-re@k"),
            &[&original, &reply],
        );
    }
    std::fs::write(&path, &mbox).unwrap();
    for in_flight in [2, 16] {
        let store = Arc::new(ticketcore_redb::RedbStore::in_memory().unwrap());
        let s = common::setup_on(store, common::CONFIG).await;
        let postmaster = Arc::new(Postmaster::new(s.desk.clone()));
        let handled = deliver_mbox(postmaster, &path, in_flight, |_| {})
            .await
            .unwrap();
        let outcomes = |o: Outcome| {
            handled
                .iter()
                .filter(|h| matches!(&h.result, Ok(d) if d.outcome == o))
                .count()
        };
        assert_eq!(handled.len(), 63, "{in_flight} in flight");
        // The pair may each follow up on the parent, or one open a ticket.
        let created = outcomes(Outcome::Created);
        assert!((21..=22).contains(&created), "{created} created");
        assert_eq!(created + outcomes(Outcome::FollowUp), 63);
        let threads = handled
            .iter()
            .filter(|h| !["#1", "#2", "#3"].iter().any(|n| h.source.ends_with(n)))
            .filter(|h| matches!(&h.result, Ok(d) if d.outcome == Outcome::FollowUp))
            .count();
        assert_eq!(
            threads, 40,
            "{in_flight} in flight: every reply followed up"
        );
    }
}
