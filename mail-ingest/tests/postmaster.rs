//! The PostMaster on a corpus of realistic mail: parsing, routing, filters, follow-ups and
//! their policies, strangers, auto-responses and loop protection, bounces, idempotency, and
//! the outbox that sends answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Captured, corpus, mail, setup, setup_with};
use ticketcore::{Actor, EventKind, Message, Ticket};
use ticketcore_mail::{Inbound, MailError, Outbox, Outcome, Outgoing};

const LIMIT: u64 = 20_000_000;

async fn ticket(s: &common::Setup, number: &ticketcore::TicketNumber) -> Ticket {
    s.store.ticket_by_number(number).await.unwrap().unwrap()
}

fn parse(name: &str) -> Inbound {
    Inbound::parse(
        &corpus(name, &[("NUMBER", "1"), ("REPLY_TO", "x@y")]),
        LIMIT,
    )
    .unwrap()
}

#[test]
fn the_corpus_parses_with_charsets_encodings_and_parts() {
    let outlook = parse("outlook_de_new.eml");
    assert_eq!(outlook.subject, "Frage zur Mitgliedschaft – Kündigung");
    assert!(
        outlook.body.contains("möchte meine Mitgliedschaft"),
        "{}",
        outlook.body
    );
    assert!(
        outlook.body.contains("120 €"),
        "windows-1252 euro: {}",
        outlook.body
    );
    assert!(outlook.body_html.as_deref().unwrap().contains("Grüßen"));
    assert_eq!(
        outlook.from.as_ref().unwrap().name.as_deref(),
        Some("Jürgen Müller")
    );
    assert_eq!(outlook.recipients[0], "info@verein.example");

    let latin9 = parse("latin9.eml");
    assert_eq!(latin9.subject, "Facture € impayée");
    assert!(latin9.body.contains("50 € est impayée"), "{}", latin9.body);
    assert_eq!(
        latin9.from.as_ref().unwrap().name.as_deref(),
        Some("Renée Étienne")
    );

    let gmail = parse("gmail_inline_image.eml");
    assert_eq!(gmail.attachments.len(), 1);
    let image = &gmail.attachments[0];
    assert_eq!(
        (image.name.as_str(), image.content_type.as_str()),
        ("error.png", "image/png")
    );
    assert!(image.inline);
    assert!(image.data.starts_with(b"\x89PNG"));

    let html = parse("html_only.eml");
    assert!(
        html.body.contains("error 500"),
        "text rendering: {}",
        html.body
    );
    assert!(!html.body.contains("<b>"));
    assert!(html.body_html.is_some());

    let forwarded = parse("forwarded_invoice.eml");
    assert_eq!(forwarded.attachments.len(), 1);
    assert_eq!(forwarded.attachments[0].content_type, "message/rfc822");
    assert!(String::from_utf8_lossy(&forwarded.attachments[0].data).contains("Betrag: 99,00 EUR"));

    let followup = parse("thunderbird_followup.eml");
    assert_eq!(followup.attachments[0].name, "label.pdf");
    assert!(followup.attachments[0].data.starts_with(b"%PDF-1.4"));
    assert!(followup.body.contains("“fuser”"));

    let dsn = parse("dsn_bounce.eml");
    let report = dsn.report.unwrap();
    assert_eq!(report.recipient.as_deref(), Some("gone@example.com"));
    assert_eq!(report.status.as_deref(), Some("5.1.1"));
    assert_eq!(report.original_message_id.as_deref(), Some("x@y"));
}

#[test]
fn bad_input_gets_a_clear_reason() {
    let broken = corpus("broken_headers.eml", &[]);
    // Broken headers and encodings are taken as well as they can be, never a panic.
    let parsed = Inbound::parse(&broken, LIMIT).unwrap();
    assert!(parsed.message_id.is_none());
    match Inbound::parse(&broken, 10) {
        Err(MailError::TooLarge { size, limit: 10 }) => assert_eq!(size, broken.len()),
        other => panic!("{other:?}"),
    }
    for junk in [&b""[..], b"\r\n\r\n", b"\x00\x01\x02"] {
        match Inbound::parse(junk, LIMIT) {
            Err(e) => assert!(e.to_string().contains("not a mail message"), "{e}"),
            Ok(m) => panic!("{junk:?} parsed as {m:?}"),
        }
    }
}

#[tokio::test]
async fn routing_by_recipient_and_customer_by_address() {
    let s = setup().await;
    let d = s
        .postmaster
        .deliver(&corpus("outlook_de_new.eml", &[]))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::Created);
    assert_eq!(d.queue.as_deref(), Some("Verein"));
    assert!(d.auto_response);
    let t = ticket(&s, d.ticket.as_ref().unwrap()).await;
    assert_eq!(t.customer.as_deref(), Some("juergen.mueller@example.com"));
    assert_eq!(t.title, "Frage zur Mitgliedschaft – Kündigung");

    // A known customer's address becomes their login; unknown recipients go to the default.
    let raw = mail(
        "Karla <KARLA@example.com>",
        "nobody@elsewhere.example",
        "Hi",
        "r1@x",
        "",
    );
    let d = s.postmaster.deliver(&raw).await.unwrap();
    assert_eq!(d.queue.as_deref(), Some("Support"));
    let t = ticket(&s, d.ticket.as_ref().unwrap()).await;
    assert_eq!(t.customer.as_deref(), Some("karla"));

    // A web form answers to its Reply-To.
    let d = s
        .postmaster
        .deliver(&corpus("webform.eml", &[]))
        .await
        .unwrap();
    assert_eq!(
        (d.outcome, d.queue.as_deref(), d.auto_response),
        (Outcome::Created, Some("Verein"), true)
    );
    let t = ticket(&s, d.ticket.as_ref().unwrap()).await;
    let articles = s.store.articles(t.id).await.unwrap();
    assert_eq!(
        articles.last().unwrap().to,
        "Petra Probe <petra@example.net>"
    );
}

#[tokio::test]
async fn without_a_default_queue_unroutable_mail_is_rejected_with_a_reason() {
    let s = setup_with(&common::CONFIG.replace("default_queue = \"Support\"", "")).await;
    let raw = mail("a@x.example", "nobody@elsewhere.example", "Hi", "r2@x", "");
    let d = s.postmaster.deliver(&raw).await.unwrap();
    assert_eq!(d.outcome, Outcome::Rejected);
    assert!(d.reason.unwrap().contains("default_queue"));
}

#[tokio::test]
async fn filters_set_queue_and_priority_or_drop() {
    let s = setup().await;
    let d = s
        .postmaster
        .deliver(&corpus("forwarded_invoice.eml", &[]))
        .await
        .unwrap();
    assert_eq!(d.queue.as_deref(), Some("Verein::Kasse"));
    let t = ticket(&s, d.ticket.as_ref().unwrap()).await;
    assert_eq!(t.priority.get(), 4);
    let d = s
        .postmaster
        .deliver(&corpus("spam.eml", &[]))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::Ignored);
    assert_eq!(d.reason.as_deref(), Some("dropped by filter \"spam\""));
    assert!(d.ticket.is_none());
}

#[test]
fn a_bad_filter_regex_is_refused_with_the_configuration() {
    let config = common::CONFIG.replace("(?i)rechnung|invoice", "(unclosed");
    let error = ticketcore::Config::from_toml(&config)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("invoices") && error.contains("unclosed group"),
        "{error}"
    );
}

#[tokio::test]
async fn follow_ups_by_number_and_by_reference() {
    let s = setup().await;
    let first = mail(
        "Karla <karla@example.com>",
        "support@desk.example",
        "Printer on fire",
        "k1@example.com",
        "",
    );
    let created = s.postmaster.deliver(&first).await.unwrap();
    let number = created.ticket.clone().unwrap();
    let t = ticket(&s, &number).await;
    let auto = s.store.articles(t.id).await.unwrap().pop().unwrap();
    let auto_id = auto.message_id.clone().unwrap();

    let raw = corpus(
        "thunderbird_followup.eml",
        &[("NUMBER", number.as_str()), ("REPLY_TO", "unknown@nowhere")],
    );
    let d = s.postmaster.deliver(&raw).await.unwrap();
    assert_eq!(
        (d.outcome, d.ticket.as_ref()),
        (Outcome::FollowUp, Some(&number))
    );
    assert!(d.auto_response, "the follow-up auto-response");
    assert_eq!(d.reason, None, "karla is the ticket's customer");

    // Only In-Reply-To: the auto-response's Message-ID brings it back.
    let reply = mail(
        "Karla <karla@example.com>",
        "support@desk.example",
        "Re: your mail",
        "k3@example.com",
        &format!("In-Reply-To: <{auto_id}>\r\n"),
    );
    let d = s.postmaster.deliver(&reply).await.unwrap();
    assert_eq!(
        (d.outcome, d.ticket.as_ref()),
        (Outcome::FollowUp, Some(&number))
    );

    // A number of another system (wrong check digit) does not match.
    let mut wrong = number.as_str().to_string();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '9' {
        '0'
    } else {
        (last as u8 + 1) as char
    });
    let stray = mail(
        "Karla <karla@example.com>",
        "support@desk.example",
        &format!("[Ticket#{wrong}]"),
        "k4@example.com",
        "",
    );
    let d = s.postmaster.deliver(&stray).await.unwrap();
    assert_eq!(d.outcome, Outcome::Created);
    assert_ne!(d.ticket.as_ref(), Some(&number));

    let articles = s.store.articles(t.id).await.unwrap();
    let pdf = articles
        .iter()
        .flat_map(|a| &a.attachments)
        .find(|x| x.name == "label.pdf");
    assert!(pdf.is_some(), "the attachment is stored");
}

#[tokio::test]
async fn follow_ups_to_closed_tickets_follow_the_queue_policy() {
    let s = setup().await;
    let system = Actor::System;
    let mut numbers = Vec::new();
    for (queue_address, subject) in [
        ("support@desk.example", "reopen me"),
        ("info@verein.example", "Rechnung 7"),
        ("support@desk.example", "archive me"),
    ] {
        let raw = mail(
            "Karla <karla@example.com>",
            queue_address,
            subject,
            &format!("{subject}@k"),
            "",
        );
        let d = s.postmaster.deliver(&raw).await.unwrap();
        numbers.push(d.ticket.unwrap());
    }
    let archived = ticket(&s, &numbers[2]).await;
    s.desk
        .move_ticket(&system, archived.id, "Archiv")
        .await
        .unwrap();
    for n in &numbers {
        let t = ticket(&s, n).await;
        s.desk
            .set_state(&system, t.id, "closed successful", None)
            .await
            .unwrap();
    }
    let follow = |n: &ticketcore::TicketNumber, id: &str| {
        mail(
            "Karla <karla@example.com>",
            "support@desk.example",
            &format!("Re: [Ticket#{n}]"),
            id,
            "",
        )
    };

    let reopened = s
        .postmaster
        .deliver(&follow(&numbers[0], "f0@k"))
        .await
        .unwrap();
    assert_eq!(reopened.outcome, Outcome::FollowUp);
    assert_eq!(ticket(&s, &numbers[0]).await.state, "open");

    let rejected = s
        .postmaster
        .deliver(&follow(&numbers[1], "f1@k"))
        .await
        .unwrap();
    assert_eq!(rejected.outcome, Outcome::Rejected);
    assert!(rejected.auto_response, "the reject answer");
    assert!(ticket(&s, &numbers[1]).await.state_type.is_closed());

    let renewed = s
        .postmaster
        .deliver(&follow(&numbers[2], "f2@k"))
        .await
        .unwrap();
    assert_eq!(renewed.outcome, Outcome::Created);
    assert_ne!(renewed.ticket.as_ref(), Some(&numbers[2]));
    let fresh = ticket(&s, renewed.ticket.as_ref().unwrap()).await;
    assert!(
        fresh.links.iter().any(|l| l.ticket == archived.id),
        "linked to the closed one"
    );
}

#[tokio::test]
async fn strangers_following_up_by_number_are_flagged_or_split_off() {
    for (policy, expect_same) in [("accept", true), ("new_ticket", false)] {
        let config = common::CONFIG.replace(
            "[mail]\n",
            &format!("[mail]\nunknown_sender = \"{policy}\"\n"),
        );
        let s = setup_with(&config).await;
        let first = mail(
            "Karla <karla@example.com>",
            "support@desk.example",
            "Mine",
            "own@k",
            "",
        );
        let number = s.postmaster.deliver(&first).await.unwrap().ticket.unwrap();
        let guess = mail(
            "Eve <eve@evil.example>",
            "support@desk.example",
            &format!("[Ticket#{number}] hi"),
            "eve@e",
            "",
        );
        let d = s.postmaster.deliver(&guess).await.unwrap();
        assert_eq!(
            d.ticket.as_ref() == Some(&number),
            expect_same,
            "{policy}: {d:?}"
        );
        assert!(d.reason.is_some(), "{policy}: the delivery says why");
        if expect_same {
            let t = ticket(&s, &number).await;
            let history = s.store.history(t.id).await.unwrap();
            assert!(history.iter().any(|e| matches!(
                e.kind,
                EventKind::FollowUp {
                    unknown_sender: true,
                    ..
                }
            )));
            // Karla, the customer, is no stranger; nor is anyone who wrote on the ticket.
            let again = mail(
                "Eve <eve@evil.example>",
                "support@desk.example",
                &format!("[Ticket#{number}] again"),
                "eve2@e",
                "",
            );
            let d = s.postmaster.deliver(&again).await.unwrap();
            assert_eq!(d.reason, None, "eve wrote on it before");
        }
    }
}

#[tokio::test]
async fn no_auto_response_to_machines_and_at_most_n_per_sender_a_day() {
    let config = common::CONFIG.replace(
        "auto_responses_per_sender_per_day = 10",
        "auto_responses_per_sender_per_day = 2",
    );
    let s = setup_with(&config).await;
    let first = mail(
        "Karla <karla@example.com>",
        "support@desk.example",
        "Printer",
        "p1@k",
        "",
    );
    let number = s.postmaster.deliver(&first).await.unwrap().ticket.unwrap();
    for name in ["out_of_office.eml", "mailing_list.eml"] {
        let raw = corpus(name, &[("NUMBER", number.as_str())]);
        let d = s.postmaster.deliver(&raw).await.unwrap();
        assert!(!d.auto_response, "{name}: {d:?}");
    }
    let mut answered = Vec::new();
    for i in 0..4 {
        let raw = mail(
            "Sam <sam@example.org>",
            "support@desk.example",
            &format!("Question {i}"),
            &format!("q{i}@s"),
            "",
        );
        answered.push(s.postmaster.deliver(&raw).await.unwrap().auto_response);
    }
    assert_eq!(answered, [true, true, false, false]);
    // A new day, a new allowance.
    s.clock.advance(chrono::Duration::days(1));
    let raw = mail(
        "Sam <sam@example.org>",
        "support@desk.example",
        "Question 5",
        "q5@s",
        "",
    );
    assert!(s.postmaster.deliver(&raw).await.unwrap().auto_response);
}

/// Deliveries from one sender at once all see allowance left, but the store counts each
/// auto-response in its commit: those over the limit are taken in without one.
#[tokio::test]
async fn concurrent_deliveries_from_one_sender_share_its_daily_allowance() {
    let config = common::CONFIG.replace(
        "auto_responses_per_sender_per_day = 10",
        "auto_responses_per_sender_per_day = 2",
    );
    let store = Arc::new(ticketcore_redb::RedbStore::in_memory().unwrap());
    let s = common::setup_on(store, &config).await;
    let messages: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            mail(
                "Sam <sam@example.org>",
                "support@desk.example",
                &format!("Question {i}"),
                &format!("c{i}@s"),
                "",
            )
        })
        .collect();
    let (a, b, c, d, e, f) = tokio::join!(
        s.postmaster.deliver(&messages[0]),
        s.postmaster.deliver(&messages[1]),
        s.postmaster.deliver(&messages[2]),
        s.postmaster.deliver(&messages[3]),
        s.postmaster.deliver(&messages[4]),
        s.postmaster.deliver(&messages[5]),
    );
    let deliveries: Vec<_> = [a, b, c, d, e, f].into_iter().map(Result::unwrap).collect();
    assert!(
        deliveries.iter().all(|d| d.outcome == Outcome::Created),
        "{deliveries:?}"
    );
    let answered = deliveries.iter().filter(|d| d.auto_response).count();
    assert_eq!(answered, 2, "{deliveries:?}");
    for d in &deliveries {
        let ticket = s.filed(d).await;
        let articles = s.store.articles(ticket.id).await.unwrap();
        assert_eq!(articles.len(), 1 + usize::from(d.auto_response), "{d:?}");
        assert_eq!(articles[0].body.trim(), "Hello.");
    }
}

#[tokio::test]
async fn bounces_attach_to_the_ticket_whose_mail_bounced() {
    let s = setup().await;
    let anna = Actor::agent("anna");
    let first = mail(
        "Gone <gone@example.com>",
        "support@desk.example",
        "Your request",
        "g1@x",
        "",
    );
    let number = s.postmaster.deliver(&first).await.unwrap().ticket.unwrap();
    let t = ticket(&s, &number).await;
    let replied = s
        .desk
        .reply(&anna, t.id, Message::text("We fixed it."))
        .await
        .unwrap();
    let articles = s.store.articles(replied.ticket.id).await.unwrap();
    let sent_id = articles.last().unwrap().message_id.clone().unwrap();

    let dsn = corpus("dsn_bounce.eml", &[("NUMBER", "0"), ("REPLY_TO", &sent_id)]);
    let d = s.postmaster.deliver(&dsn).await.unwrap();
    assert_eq!(
        (d.outcome, d.ticket.as_ref()),
        (Outcome::FollowUp, Some(&number))
    );
    assert!(!d.auto_response);
    assert!(d.reason.unwrap().contains("5.1.1"));
    let history = s.store.history(t.id).await.unwrap();
    assert!(history.iter().any(|e| matches!(&e.kind, EventKind::Bounce { recipient, .. } if recipient == "gone@example.com")));

    let elsewhere = setup().await;
    let stray = corpus(
        "dsn_bounce.eml",
        &[("NUMBER", "0"), ("REPLY_TO", "never-sent@x")],
    );
    // A bounce about no mail of this desk is not dropped silently: a ticket in the default
    // queue, marked as a bounce, without an answer (or, if so configured, ignored with why).
    let d = elsewhere.postmaster.deliver(&stray).await.unwrap();
    assert_eq!(d.outcome, Outcome::Created);
    assert!(!d.auto_response, "a bounce is never answered");
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("no mail of this desk")
    );
    let filed = ticket(&elsewhere, d.ticket.as_ref().unwrap()).await;
    assert_eq!(filed.queue, "Support");
    assert_eq!(filed.customer, None);
    let history = elsewhere.store.history(filed.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Bounce { .. }))
    );
    assert!(
        !history
            .iter()
            .any(|e| matches!(&e.kind, EventKind::SendAutoReply { .. }))
    );
    let ignoring =
        setup_with(&common::CONFIG.replace("[mail]\n", "[mail]\nforeign_bounces = \"ignore\"\n"))
            .await;
    let d = ignoring.postmaster.deliver(&stray).await.unwrap();
    assert_eq!(d.outcome, Outcome::Ignored);
    assert!(d.ticket.is_none());
    assert!(
        d.reason.unwrap().contains("foreign_bounces"),
        "reported with its reason"
    );
}

#[tokio::test]
async fn the_same_message_twice_is_taken_once() {
    let s = setup().await;
    let raw = corpus("gmail_inline_image.eml", &[]);
    let first = s.postmaster.deliver(&raw).await.unwrap();
    let second = s.postmaster.deliver(&raw).await.unwrap();
    assert_eq!(second.outcome, Outcome::Duplicate);
    assert_eq!(second.ticket, first.ticket);
    // Without a Message-ID, by content.
    let bare = b"From: x@example.org\r\nTo: support@desk.example\r\nSubject: no id\r\n\r\nHi\r\n";
    assert_eq!(
        s.postmaster.deliver(bare).await.unwrap().outcome,
        Outcome::Created
    );
    assert_eq!(
        s.postmaster.deliver(bare).await.unwrap().outcome,
        Outcome::Duplicate
    );
    // Delivered concurrently: still one ticket.
    let racing = mail(
        "r@example.org",
        "support@desk.example",
        "race",
        "race@r",
        "",
    );
    let (a, b) = tokio::join!(s.postmaster.deliver(&racing), s.postmaster.deliver(&racing));
    let mut outcomes = [a.unwrap().outcome, b.unwrap().outcome];
    outcomes.sort_by_key(|o| *o == Outcome::Duplicate);
    assert_eq!(outcomes, [Outcome::Created, Outcome::Duplicate]);
}

#[tokio::test]
async fn the_outbox_sends_answers_and_auto_responses_once() {
    let s = setup().await;
    let transport = Arc::new(Captured::default());
    let outbox = Outbox::new(s.desk.clone(), transport.clone());
    let first = mail(
        "Karla Kunde <karla@example.com>",
        "support@desk.example",
        "Printer",
        "k9@example.com",
        "",
    );
    let d = s.postmaster.deliver(&first).await.unwrap();
    let number = d.ticket.unwrap();
    assert_eq!(outbox.run_once().await.unwrap().sent, 1);
    let auto = transport.take().pop().unwrap();
    assert_eq!(
        auto.envelope_from, None,
        "auto-responses go out with the null sender"
    );
    assert_eq!(auto.recipients, ["karla@example.com"]);
    let parsed = Inbound::parse(&auto.raw, LIMIT).unwrap();
    assert_eq!(parsed.header("Auto-Submitted"), Some("auto-replied"));
    assert_eq!(parsed.header("X-Loop"), Some("support@desk.example"));
    assert!(
        parsed.subject.contains(&format!("[Ticket#{number}]")),
        "{}",
        parsed.subject
    );
    assert_eq!(parsed.in_reply_to, ["k9@example.com"]);
    assert!(parsed.body.contains("Dear Karla Kunde"), "{}", parsed.body);

    let t = ticket(&s, &number).await;
    let anna = Actor::agent("anna");
    s.desk
        .reply(&anna, t.id, Message::text("Switch it off."))
        .await
        .unwrap();
    assert_eq!(outbox.run_once().await.unwrap().sent, 1);
    assert_eq!(outbox.run_once().await.unwrap().sent, 0, "nothing twice");
    let answer = transport.take().pop().unwrap();
    assert_eq!(
        answer.envelope_from.as_deref(),
        Some("support@desk.example")
    );
    assert_eq!(
        answer.recipients,
        ["karla@example.com"],
        "the customer login resolved"
    );
    let parsed = Inbound::parse(&answer.raw, LIMIT).unwrap();
    assert_eq!(parsed.header("Auto-Submitted"), None, "a person answered");
    assert_eq!(parsed.from.unwrap().name.as_deref(), Some("Anna Agent"));
    assert_eq!(parsed.in_reply_to, ["k9@example.com"]);
    let stored = s.store.articles(t.id).await.unwrap().pop().unwrap();
    assert_eq!(
        parsed.message_id, stored.message_id,
        "the stored id went out"
    );

    // The customer's answer to it threads back by that id.
    let back = mail(
        "Karla <karla@example.com>",
        "support@desk.example",
        "Re: Switch",
        "k10@example.com",
        &format!("In-Reply-To: <{}>\r\n", stored.message_id.unwrap()),
    );
    let d = s.postmaster.deliver(&back).await.unwrap();
    assert_eq!(d.ticket.as_ref(), Some(&number));
}

#[tokio::test]
async fn two_desks_answering_each_other_stop() {
    // Desk A's queue writes to desk B's queue and the other way round: each auto-response
    // is delivered to the other desk, which must not answer it.
    let a = setup().await;
    let b =
        setup_with(&common::CONFIG.replace("support@desk.example", "helpdesk@other.example")).await;
    let (ta, tb) = (Arc::new(Captured::default()), Arc::new(Captured::default()));
    let (oa, ob) = (
        Outbox::new(a.desk.clone(), ta.clone()),
        Outbox::new(b.desk.clone(), tb.clone()),
    );
    let start = mail(
        "B <helpdesk@other.example>",
        "support@desk.example",
        "Hello A",
        "start@b",
        "",
    );
    a.postmaster.deliver(&start).await.unwrap();
    let mut exchanged = 0;
    for _ in 0..50 {
        oa.run_once().await.unwrap();
        ob.run_once().await.unwrap();
        let (to_b, to_a) = (ta.take(), tb.take());
        if to_b.is_empty() && to_a.is_empty() {
            break;
        }
        // Mail reaches the other desk when addressed to it (agents' notices go to the agents).
        let reaches = |m: &Outgoing, desk: &str| m.recipients.iter().any(|r| r == desk);
        for m in to_b.iter().filter(|m| reaches(m, "helpdesk@other.example")) {
            exchanged += 1;
            b.postmaster.deliver(&m.raw).await.unwrap();
        }
        for m in to_a.iter().filter(|m| reaches(m, "support@desk.example")) {
            exchanged += 1;
            a.postmaster.deliver(&m.raw).await.unwrap();
        }
    }
    assert_eq!(
        exchanged, 1,
        "A answers once; B records it without answering"
    );

    // Against a naive responder that strips every marker, the daily limit ends it.
    let mut rounds = 0;
    for i in 0..100 {
        let echo = mail(
            "Bot <bot@naive.example>",
            "support@desk.example",
            &format!("Re: echo {i}"),
            &format!("echo{i}@naive"),
            "",
        );
        if !a.postmaster.deliver(&echo).await.unwrap().auto_response {
            break;
        }
        rounds += 1;
    }
    assert_eq!(rounds, 10, "auto_responses_per_sender_per_day");
}

/// The fuzz targets' seed corpus (this corpus, plus anything the fuzzers found and were
/// fixed for, under `tests/corpus/regressions`), run the way the `ingest` target runs it.
#[tokio::test]
async fn the_seed_corpus_goes_through_the_whole_pipeline() {
    let s = setup().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files = Vec::new();
    for sub in [dir.clone(), dir.join("regressions")] {
        if let Ok(entries) = std::fs::read_dir(&sub) {
            files.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file()),
            );
        }
    }
    assert!(files.len() >= 12, "the corpus is there");
    for path in files {
        let raw = std::fs::read(&path).unwrap();
        for _ in 0..2 {
            match s.postmaster.deliver(&raw).await {
                Ok(_) => {}
                Err(e) => assert!(!e.is_temporary(), "{}: {e}", path.display()),
            }
        }
    }
}

#[tokio::test]
async fn filters_set_state_title_and_customer_when_all_patterns_match() {
    let s = setup().await;
    let raw = mail(
        "Boss <boss@vip.example>",
        "support@desk.example",
        "hi",
        "vip1@v",
        "",
    );
    let plain = s.postmaster.deliver(&raw).await.unwrap();
    let t = ticket(&s, plain.ticket.as_ref().unwrap()).await;
    assert_eq!(
        (t.title.as_str(), t.state.as_str()),
        ("hi", "new"),
        "the body did not match"
    );
    let urgent = "From: Boss <boss@vip.example>\r\nTo: support@desk.example\r\nSubject: hi\r\n\
                  Message-ID: <vip2@v>\r\n\r\nThis is URGENT.\r\n";
    let d = s.postmaster.deliver(urgent.as_bytes()).await.unwrap();
    let t = ticket(&s, d.ticket.as_ref().unwrap()).await;
    assert_eq!(t.title, "VIP: urgent request");
    assert_eq!(t.state, "open");
    assert_eq!(t.customer.as_deref(), Some("karla"));
}

#[tokio::test]
async fn mail_to_a_merged_ticket_goes_to_the_surviving_one() {
    let s = setup().await;
    let karla = "Karla <karla@example.com>";
    let a = s
        .postmaster
        .deliver(&mail(karla, "support@desk.example", "one", "m1@k", ""))
        .await
        .unwrap();
    let b = s
        .postmaster
        .deliver(&mail(karla, "support@desk.example", "two", "m2@k", ""))
        .await
        .unwrap();
    let ta = ticket(&s, a.ticket.as_ref().unwrap()).await;
    let tb = ticket(&s, b.ticket.as_ref().unwrap()).await;
    s.desk
        .merge(&Actor::agent("anna"), ta.id, tb.id)
        .await
        .unwrap();
    let subject = format!("Re: [Ticket#{}]", ta.number);
    let d = s
        .postmaster
        .deliver(&mail(karla, "support@desk.example", &subject, "m3@k", ""))
        .await
        .unwrap();
    assert_eq!(
        (d.outcome, d.ticket.as_ref()),
        (Outcome::FollowUp, Some(&tb.number))
    );
}

#[tokio::test]
async fn unsent_mail_waits_in_the_outbox_and_goes_once_after_a_restart() {
    use std::sync::atomic::Ordering;
    let s = setup().await;
    let transport = Arc::new(common::Flaky::default());
    transport.down.store(true, Ordering::SeqCst);
    let outbox = Outbox::new(s.desk.clone(), transport.clone());
    for i in 0..3 {
        let raw = mail(
            &format!("c{i}@example.org"),
            "support@desk.example",
            "hi",
            &format!("o{i}@c"),
            "",
        );
        s.postmaster.deliver(&raw).await.unwrap();
    }
    let report = outbox.run_once().await.unwrap();
    assert!(report.waiting && report.sent == 0, "{report:?}");
    assert!(
        outbox.run_once().await.unwrap().waiting,
        "still waiting, nothing skipped"
    );
    transport.down.store(false, Ordering::SeqCst);
    // A new outbox on the same store: a restarted process.
    let restarted = Outbox::new(s.desk.clone(), transport.clone());
    assert_eq!(restarted.run_once().await.unwrap().sent, 3);
    assert_eq!(outbox.run_once().await.unwrap().sent, 0);
    let mut to: Vec<String> = transport
        .sent
        .take()
        .iter()
        .map(|m| m.recipients[0].clone())
        .collect();
    to.sort();
    assert_eq!(to, ["c0@example.org", "c1@example.org", "c2@example.org"]);
}

#[tokio::test]
async fn mail_refused_for_good_is_recorded_on_its_ticket() {
    let config = common::CONFIG
        .replace("address = \"info@verein.example\"\n", "")
        .replace("default_queue = \"Support\"", "default_queue = \"Verein\"");
    let s = setup_with(&config).await;
    let transport = Arc::new(Captured::default());
    let outbox = Outbox::new(s.desk.clone(), transport.clone());
    // Verein, the default queue, has no address: there is nothing to send from.
    let raw = mail("c@example.org", "x@elsewhere.example", "hi", "nf@c", "");
    let d = s.postmaster.deliver(&raw).await.unwrap();
    assert!(d.auto_response);
    let report = outbox.run_once().await.unwrap();
    assert_eq!((report.sent, report.failed), (0, 1));
    let t = ticket(&s, d.ticket.as_ref().unwrap()).await;
    let history = s.store.history(t.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(e.kind, EventKind::Bounce { .. }))
    );
}

#[test]
fn exit_codes_are_what_an_mta_expects() {
    use ticketcore_mail::source::exit_code;
    let taken = Ok(ticketcore_mail::Delivery {
        outcome: Outcome::Ignored,
        ticket: None,
        queue: None,
        reason: None,
        auto_response: false,
    });
    assert_eq!(exit_code(&taken), 0);
    let down = ticketcore::StoreError::Backend("down".into());
    assert_eq!(
        exit_code(&Err(MailError::Desk(ticketcore::Error::Store(down)))),
        75
    );
    assert_eq!(
        exit_code(&Err(MailError::TooLarge { size: 2, limit: 1 })),
        65
    );
}

#[tokio::test]
async fn a_new_ticket_and_its_receipt_are_one_commit() {
    let s = setup().await;
    let raw = mail(
        "Karla <karla@example.com>",
        "support@desk.example",
        "One write",
        "one@k",
        "",
    );
    let d = s.postmaster.deliver(&raw).await.unwrap();
    assert!(d.auto_response);
    let t = ticket(&s, d.ticket.as_ref().unwrap()).await;
    assert_eq!(t.version, 1, "created and answered in one commit");
    let kinds: Vec<&str> = s
        .store
        .history(t.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind.history_type())
        .collect();
    assert_eq!(kinds, ["NewTicket", "EmailCustomer", "SendAutoReply"]);
    assert_eq!(s.store.articles(t.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn agents_are_told_by_mail_with_number_title_and_link() {
    let config = common::CONFIG
        .replace("notifications = { kinds = [] }\n", "")
        .replace(
            "[[customers]]",
            "[[agents]]\nlogin = \"bert\"\nname = \"Bert\"\nemail = \"bert@desk.example\"\n\
             groups = { support = [\"rw\"] }\n\n[notifications]\n\
             base_url = \"https://desk.example/\"\n\n[[customers]]",
        );
    let s = setup_with(&config).await;
    let transport = Arc::new(Captured::default());
    let outbox = Outbox::new(s.desk.clone(), transport.clone());
    let raw = mail(
        "Karla Kunde <karla@example.com>",
        "support@desk.example",
        "Drucker brennt",
        "n1@example.com",
        "",
    );
    let d = s.postmaster.deliver(&raw).await.unwrap();
    let number = d.ticket.unwrap();
    outbox.run_once().await.unwrap();
    let sent = transport.take();
    let notices: Vec<&Outgoing> = sent
        .iter()
        .filter(|m| m.message_id.starts_with("notify."))
        .collect();
    let mut to: Vec<&str> = notices.iter().map(|m| m.recipients[0].as_str()).collect();
    to.sort();
    assert_eq!(to, ["anna@desk.example", "bert@desk.example"]);
    let parsed = Inbound::parse(&notices[0].raw, LIMIT).unwrap();
    assert!(
        parsed.subject.contains(number.as_str()),
        "{}",
        parsed.subject
    );
    assert!(
        parsed.subject.contains("Drucker brennt"),
        "{}",
        parsed.subject
    );
    assert_eq!(parsed.header("Auto-Submitted"), Some("auto-generated"));
    assert!(
        parsed
            .body
            .contains(&format!("https://desk.example/tickets/{number}")),
        "{}",
        parsed.body
    );
    assert!(parsed.body.contains("customer karla"), "{}", parsed.body);

    // A note naming bert: only bert, the note in the body, never anna who wrote it.
    let t = ticket(&s, &number).await;
    s.desk
        .note(
            &ticketcore::Actor::agent("anna"),
            t.id,
            ticketcore::Message::text("Bitte den Techniker rufen."),
            false,
            &["bert"],
        )
        .await
        .unwrap();
    outbox.run_once().await.unwrap();
    let sent = transport.take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].recipients, ["bert@desk.example"]);
    let parsed = Inbound::parse(&sent[0].raw, LIMIT).unwrap();
    assert!(parsed.subject.contains(number.as_str()) && parsed.subject.contains("Drucker brennt"));
    assert!(
        parsed.body.contains("Bitte den Techniker rufen."),
        "{}",
        parsed.body
    );

    // A notice that finds its way back into the desk is not taken in as a new ticket.
    let back = s.postmaster.deliver(&sent[0].raw).await.unwrap();
    assert_eq!(back.outcome, Outcome::Ignored, "{back:?}");
}
