//! The demo desk: a small desk that shows something real, for `ticketctl demo` and for the
//! web server on an empty store. The shipped example configuration (`demo/desk.toml`), a few
//! customers, three dozen mails from the sample set delivered over the last three days
//! through the real PostMaster, agents working on some of the tickets, a few FAQ entries,
//! and a maintenance run that escalates what waited too long. Idempotent: mail is taken in
//! by Message-ID, agents act only on tickets this run created, and the FAQ is written once.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use ticketcore::acl::CustomerUser;
use ticketcore::{
    Actor, Config, Desk, FaqState, ManualClock, Message, NewFaq, StateType, Store, Ticket,
};
use ticketcore_mail::{Outcome, Postmaster};

use crate::failure::Failure;

/// The demo's sign-ins: (login, is a customer, password). Demo passwords, printed by every
/// run: a desk with real people on it gets its own with `ticketctl passwd`.
pub const SIGN_INS: [(&str, bool, &str); 2] = [
    ("anna", false, "demo-anna-2026"),
    ("kunde1", true, "demo-kunde1-2026"),
];

/// The example configuration, shipped for `ticketctl init` and the demo.
pub const CONFIG: &str = include_str!("../demo/desk.toml");

/// Sample mail; `{{FROM}}`, `{{NAME}}`, `{{ID}}`, `{{DATE}}`, `{{SERIAL}}` are filled in.
const MAIL: [&str; 6] = [
    include_str!("../demo/printer.eml"),
    include_str!("../demo/passwort.eml"),
    include_str!("../demo/rechnung.eml"),
    include_str!("../demo/membership.eml"),
    include_str!("../demo/webform.eml"),
    include_str!("../demo/spam.eml"),
];

/// (login, name, email, company): the demo's customers; the first is the configuration's.
const CUSTOMERS: [(&str, &str, &str, Option<&str>); 6] = [
    ("kunde1", "Karla Kunde", "karla@example.com", Some("ACME")),
    ("mia", "Mia Wagner", "mia.wagner@example.com", Some("ACME")),
    ("jonas", "Jonas Becker", "jonas.becker@example.net", None),
    ("tom", "Tom Hughes", "tom.hughes@example.co.uk", None),
    ("lea", "Lea Schmidt", "lea.schmidt@example.de", None),
    ("", "Olaf Unbekannt", "olaf@example.net", None),
];

fn config() -> Result<Config, Failure> {
    Config::from_toml(CONFIG)
        .map_err(|e| Failure::failed(format!("the shipped demo configuration: {e}")))
}

/// The stored document a demo desk holds (customers live in the directory, not in it).
fn stored_form(mut config: Config) -> Config {
    config.customers.clear();
    config
}

/// What a demo run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demo {
    /// Tickets this run created (none when the demo was there already).
    pub created: usize,
    /// Tickets escalated by the closing maintenance run.
    pub escalations: usize,
}

/// Makes (or tops up) the demo desk in `store`; refuses a store that holds another desk.
pub async fn make(store: Arc<dyn Store>) -> Result<(Arc<Desk>, Demo), Failure> {
    let config = config()?;
    match store.config().await? {
        Some(stored) if stored.config != stored_form(config.clone()) => {
            return Err(Failure::failed(
                "this store holds a desk that is not the demo's; run the demo on a store of its \
                 own, e.g. `ticketctl --store redb:./demo.redb demo`",
            ));
        }
        Some(_) => {}
        None => {
            Desk::new(store.clone()).configure(config).await?;
        }
    }
    for (login, name, email, company) in CUSTOMERS.iter().filter(|c| !c.0.is_empty()) {
        store
            .put_customer(&CustomerUser {
                login: login.to_string(),
                name: name.to_string(),
                email: email.to_string(),
                company: company.map(str::to_string),
                valid: true,
            })
            .await?;
    }

    // Mail arrives over three days, so some of it has waited long enough to escalate.
    let now = Utc::now();
    let clock = ManualClock::new(now - Duration::days(3));
    let desk = Arc::new(Desk::new(store.clone()).with_clock(Arc::new(clock.clone())));
    let postmaster = Postmaster::new(desk.clone());
    let mut created = Vec::new();
    let mut n = 0;
    for (round, (_, name, email, _)) in CUSTOMERS.iter().enumerate() {
        for (sample, text) in MAIL.iter().enumerate() {
            n += 1;
            let at = now - Duration::hours(72) + Duration::minutes(117 * n);
            clock.set(at);
            let raw = text
                .replace("{{FROM}}", &format!("{name} <{email}>"))
                .replace("{{NAME}}", name)
                .replace(
                    "{{ID}}",
                    &format!("demo-{round}-{sample}@ticketcore.example"),
                )
                .replace("{{DATE}}", &at.to_rfc2822())
                .replace("{{SERIAL}}", &format!("2026-{:04}", 311 + n));
            let delivery = postmaster.deliver(raw.as_bytes()).await?;
            if delivery.outcome == Outcome::Created
                && let Some(number) = &delivery.ticket
            {
                created.push((at, number.clone()));
            }
        }
    }
    clock.set(now);
    for (login, customer, password) in SIGN_INS {
        let who = if customer {
            Actor::customer(login)
        } else {
            Actor::agent(login)
        };
        desk.set_password(&Actor::System, &who, password).await?;
    }
    work(&desk, &created, now).await?;
    faq(&desk).await?;
    let report = desk.tick(now).await?;
    // From here on the desk runs on the real clock.
    let desk = Arc::new(Desk::new(store));
    Ok((
        desk,
        Demo {
            created: created.len(),
            escalations: report.escalations,
        },
    ))
}

/// A few FAQ entries, written once: public answers for members, an internal one for agents.
async fn faq(desk: &Desk) -> Result<(), Failure> {
    let system = Actor::System;
    if !desk
        .faq_list(Some(&system), None, None, 1)
        .await?
        .hits
        .is_empty()
    {
        return Ok(());
    }
    let entries = [
        (
            "Wie zahle ich meinen Mitgliedsbeitrag?",
            "Mitglieder::Beiträge",
            FaqState::Public,
            "de",
            "Überweisen Sie den Beitrag bis zum 31. März auf das Vereinskonto, oder erteilen \
             Sie uns ein SEPA-Lastschriftmandat: dann buchen wir ihn im Januar ab.",
            vec!["Beitrag", "SEPA", "Lastschrift"],
        ),
        (
            "Ich habe mein Passwort vergessen",
            "Mitglieder",
            FaqState::Public,
            "de",
            "Auf der Anmeldeseite \"Passwort vergessen\" wählen; der Link in der Mail gilt \
             24 Stunden.",
            vec!["Passwort", "Anmeldung"],
        ),
        (
            "The printer on the second floor jams",
            "Mitglieder",
            FaqState::Public,
            "en",
            "Open tray 2, take out the jammed sheet and close it firmly. If it keeps jamming, \
             write to us with the printer's number.",
            vec!["printer", "paper jam"],
        ),
        (
            "Mahnläufe: wer darf was?",
            "Mitglieder::Beiträge",
            FaqState::Internal,
            "de",
            "Mahnungen verschickt nur die Kasse; der Vorstand sieht die Liste im Ordner \
             Beiträge.",
            vec!["Mahnung"],
        ),
    ];
    for (title, category, state, language, text, keywords) in entries {
        desk.faq_add(
            &system,
            NewFaq {
                language: language.into(),
                state,
                keywords: keywords.into_iter().map(String::from).collect(),
                ..NewFaq::new(title, category, text)
            },
        )
        .await?;
    }
    Ok(())
}

/// Agents at work on the tickets this run created: locks, answers, notes, pending and
/// closed tickets, so the queue view shows every kind.
async fn work(
    desk: &Desk,
    created: &[(DateTime<Utc>, ticketcore::TicketNumber)],
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let anna = Actor::agent("anna");
    let bernd = Actor::agent("bernd");
    let mut general: Vec<Ticket> = Vec::new();
    for (_, number) in created {
        let ticket = desk.find(&Actor::System, number.as_str()).await?;
        if ticket.queue == "Vorstand::Schatzmeister" {
            // Bookkeeping reads the invoices and notes what it checked.
            desk.note(
                &bernd,
                ticket.id,
                Message::text("Zahlungseingang geprüft: noch nicht verbucht."),
                false,
                &[],
            )
            .await?;
        } else {
            general.push(ticket);
        }
    }
    // The most recent requests are the ones still waiting; older ones get worked on.
    general.sort_by_key(|t| std::cmp::Reverse(t.created));
    for (i, ticket) in general.iter().enumerate().skip(8) {
        let id = ticket.id;
        match i % 6 {
            0 => {
                desk.lock(&anna, id).await?;
            }
            1 => {
                desk.lock(&anna, id).await?;
                desk.reply(
                    &anna,
                    id,
                    Message::text("Thank you, we are looking into it and will report back."),
                )
                .await?;
            }
            2 => {
                desk.set_state(&anna, id, "pending reminder", Some(now + Duration::days(2)))
                    .await?;
            }
            3 => {
                desk.reply(&anna, id, Message::text("Done: it works again."))
                    .await?;
                desk.set_state(&anna, id, "closed successful", None).await?;
            }
            4 => {
                desk.note(
                    &anna,
                    id,
                    Message::text("Called back, waiting for the technician."),
                    false,
                    &["bernd"],
                )
                .await?;
            }
            _ => {}
        }
    }
    if let Some(ticket) = general
        .iter()
        .find(|t| t.state_type == StateType::New && t.priority.get() == 3)
    {
        desk.set_priority(&anna, ticket.id, ticketcore::Priority::HIGHEST)
            .await?;
    }
    Ok(())
}
