//! Configuration: the example desk document from the ticketctl spec loads and means what it
//! says; broken documents are refused with the problem and its place; a Desk stores the
//! document, fills the customer directory and can be reconfigured without losing tickets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use ticketcore::acl::{Grants, readable_queues};
use ticketcore::config::ConfigError;
use ticketcore::{
    Actor, Channel, Config, Desk, Error, FollowUpPolicy, Generator, Lock, ManualClock, MemoryStore,
    Message, NewTicket, Permission, SeededEntropy, StateType, TicketQuery,
};

/// The example configuration of the ticketctl spec, verbatim.
const EXAMPLE: &str = include_str!("data/desk.toml");

const HOUR: u64 = 3600;

fn example() -> Config {
    Config::from_toml(EXAMPLE).expect("the example configuration loads")
}

/// The example with `from` replaced by `to`; `from` must occur exactly once.
fn edited(from: &str, to: &str) -> String {
    assert_eq!(
        EXAMPLE.matches(from).count(),
        1,
        "{from:?} must occur exactly once in the example"
    );
    EXAMPLE.replacen(from, to, 1)
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle is in the text")
        + 1
}

/// Asserts that `toml` is refused as invalid with exactly one problem, at `location`, whose
/// message contains `message`; the error's Display text names both.
fn assert_refused(toml: &str, location: &str, message: &str) {
    let err = Config::from_toml(toml).expect_err("the configuration must be refused");
    let text = err.to_string();
    let ConfigError::Invalid(problems) = &err else {
        panic!("expected validation problems, got: {text}");
    };
    assert_eq!(
        problems.len(),
        1,
        "exactly one problem expected, got: {text}"
    );
    assert_eq!(problems[0].location, location, "in: {text}");
    assert!(
        problems[0].message.contains(message),
        "{message:?} expected in: {text}"
    );
    assert!(
        text.contains(location) && text.contains(message),
        "Display names place and problem: {text}"
    );
    // An item is located at the line that names it, a section at its header.
    let naming = match location.split_once(' ') {
        _ if location.starts_with('[') => Some(location.to_string()),
        Some((_, name)) => ["name", "login"]
            .iter()
            .map(|key| format!("{key} = {name}"))
            .find(|l| toml.contains(l.as_str())),
        None => None,
    };
    if let Some(naming) = naming {
        let line = line_of(toml, &naming);
        assert_eq!(problems[0].line, Some(line), "{location} in: {text}");
        assert!(text.contains(&format!("line {line}, ")), "{text}");
    }
}

/// Asserts that `toml` does not parse and the message names `what` and the 1-based `line`.
fn assert_unparsable(toml: &str, what: &str, line: usize) {
    let err = Config::from_toml(toml).expect_err("the configuration must be refused");
    let text = err.to_string();
    assert!(
        matches!(err, ConfigError::Parse(_)),
        "expected a parse error, got: {text}"
    );
    assert!(text.contains(what), "{what:?} expected in: {text}");
    assert!(
        text.contains(&format!("line {line}")),
        "line {line} expected in: {text}"
    );
}

fn desk() -> Desk {
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    Desk::new(Arc::new(MemoryStore::new()))
        .with_clock(Arc::new(ManualClock::new(start)))
        .with_entropy(Arc::new(SeededEntropy::new(7)))
}

fn perms(list: &[Permission]) -> BTreeSet<Permission> {
    list.iter().copied().collect()
}

fn names<'a>(items: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    items.into_iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------------
// The example document
// ---------------------------------------------------------------------------------------------

#[test]
fn example_numbers_and_calendar() {
    let config = example();

    assert_eq!(config.numbers.generator, Generator::DateChecksum);
    assert_eq!(config.numbers.system_id, "10");
    assert_eq!(config.numbers.hook, "Ticket#");

    assert_eq!(config.calendars.len(), 1);
    let office = &config.calendars[0];
    assert_eq!(office.name, "office");
    assert_eq!(office.time_zone, "Europe/Berlin");
    let hours: Vec<(&str, &str)> = office
        .hours
        .iter()
        .map(|(d, h)| (d.as_str(), h.as_str()))
        .collect();
    assert_eq!(
        hours,
        [
            ("fri", "09:00-15:00"),
            ("mon", "09:00-17:00"),
            ("thu", "09:00-17:00"),
            ("tue", "09:00-17:00"),
            ("wed", "09:00-17:00"),
        ]
    );
    assert_eq!(office.holidays, ["2026-12-24", "2026-12-25", "2026-12-26"]);
}

#[test]
fn example_groups_roles_agents() {
    let config = example();

    assert_eq!(
        names(config.groups.iter().map(|g| &g.name)),
        ["support", "finance"]
    );

    let role = config.role("Buchhaltung").expect("role Buchhaltung");
    let expected: BTreeMap<String, BTreeSet<Permission>> = [(
        "finance".to_string(),
        perms(&[Permission::Ro, Permission::Note]),
    )]
    .into();
    assert_eq!(role.groups, expected);

    let anna = config.agent("anna").expect("agent anna");
    assert_eq!(anna.name, "Anna Agent");
    assert_eq!(anna.email, "anna@example.org");
    assert_eq!(anna.groups["support"], perms(&[Permission::Rw]));
    assert!(anna.roles.is_empty());
    assert!(anna.valid, "agents are valid unless said otherwise");
    assert!(!anna.admin);

    let bernd = config.agent("bernd").expect("agent bernd");
    assert_eq!(bernd.name, "Bernd Buchgenau");
    assert_eq!(bernd.roles, ["Buchhaltung"]);
    assert!(bernd.groups.is_empty());

    // What the grants amount to: bernd reads and notes finance through his role, nothing more.
    let grants = Grants::of(&config, "bernd");
    assert!(grants.allows("finance", Permission::Ro));
    assert!(grants.allows("finance", Permission::Note));
    for denied in [
        Permission::Rw,
        Permission::MoveInto,
        Permission::Create,
        Permission::Owner,
        Permission::Priority,
    ] {
        assert!(!grants.allows("finance", denied), "bernd holds {denied:?}");
    }
    assert!(!grants.allows("support", Permission::Ro));
    assert_eq!(
        readable_queues(&config, "bernd"),
        BTreeSet::from(["Vorstand::Schatzmeister".to_string()])
    );
    assert_eq!(
        readable_queues(&config, "anna"),
        BTreeSet::from(["Allgemein".to_string(), "Vorstand".to_string()])
    );
}

#[test]
fn example_queues() {
    let config = example();
    assert_eq!(
        names(config.queues.iter().map(|q| &q.name)),
        ["Allgemein", "Vorstand", "Vorstand::Schatzmeister"]
    );

    let allgemein = config.queue("Allgemein").expect("queue Allgemein");
    assert_eq!(allgemein.group, "support");
    assert_eq!(allgemein.address.as_deref(), Some("info@example.org"));
    assert_eq!(
        allgemein.unlock_timeout,
        Some(Duration::from_secs(12 * HOUR))
    );
    assert_eq!(
        allgemein.first_response,
        Some(Duration::from_secs(4 * HOUR))
    );
    assert_eq!(allgemein.update, Some(Duration::from_secs(24 * HOUR)));
    assert_eq!(allgemein.solution, Some(Duration::from_secs(48 * HOUR)));
    assert_eq!(allgemein.calendar.as_deref(), Some("office"));
    assert_eq!(allgemein.follow_up, FollowUpPolicy::Reopen);
    assert_eq!(
        allgemein.auto_response.new_ticket.as_deref(),
        Some("received")
    );
    assert_eq!(
        allgemein.auto_response.follow_up.as_deref(),
        Some("follow-up-received")
    );
    assert_eq!(allgemein.auto_response.reject, None);
    assert_eq!(allgemein.parent(), None);

    let vorstand = config.queue("Vorstand").expect("queue Vorstand");
    assert_eq!(vorstand.group, "support");
    assert_eq!(vorstand.address, None);
    assert_eq!(vorstand.unlock_timeout, None);
    assert_eq!(vorstand.first_response, None);
    assert_eq!(vorstand.calendar, None);
    assert_eq!(
        vorstand.follow_up,
        FollowUpPolicy::Reopen,
        "reopen is the default"
    );

    let kasse = config
        .queue("Vorstand::Schatzmeister")
        .expect("queue Vorstand::Schatzmeister");
    assert_eq!(kasse.parent(), Some("Vorstand"));
    assert_eq!(kasse.group, "finance");
    assert_eq!(kasse.address.as_deref(), Some("kasse@example.org"));
    assert_eq!(kasse.follow_up, FollowUpPolicy::Reject);
    assert_eq!(kasse.auto_response.reject.as_deref(), Some("rejected"));
    assert_eq!(kasse.auto_response.new_ticket, None);
    assert_eq!(kasse.auto_response.follow_up, None);

    // Every auto-response names a template of the document.
    for queue in &config.queues {
        let r = &queue.auto_response;
        for name in [&r.new_ticket, &r.follow_up, &r.reject]
            .into_iter()
            .flatten()
        {
            assert!(config.template(name).is_some(), "template {name:?}");
        }
    }
}

#[test]
fn example_customers_templates_filters_mail() {
    let config = example();

    assert_eq!(config.customers.len(), 1);
    let karla = &config.customers[0];
    assert_eq!(karla.login, "kunde1");
    assert_eq!(karla.name, "Karla Kunde");
    assert_eq!(karla.email, "karla@example.com");
    assert_eq!(karla.company.as_deref(), Some("ACME"));

    assert_eq!(
        names(config.templates.iter().map(|t| &t.name)),
        ["received", "follow-up-received", "rejected", "need-details"]
    );
    let received = config.template("received").expect("template received");
    assert_eq!(received.subject, "[{{ticket.hook}}] Re: {{ticket.title}}");
    assert_eq!(
        received.body,
        "Dear {{customer.name}},\nwe received your request and filed it as {{ticket.number}}.\n"
    );

    assert_eq!(config.filters.len(), 2);
    let invoices = &config.filters[0];
    assert_eq!(invoices.name, "invoices");
    assert_eq!(
        invoices.matches,
        BTreeMap::from([("subject".to_string(), "(?i)rechnung|invoice".to_string())])
    );
    assert_eq!(
        invoices.set.queue.as_deref(),
        Some("Vorstand::Schatzmeister")
    );
    assert_eq!(invoices.set.priority, Some(4));
    assert_eq!(invoices.set.state, None);
    assert!(!invoices.ignore);
    let subject = regex::Regex::new(&invoices.matches["subject"]).unwrap();
    assert!(subject.is_match("Ihre RECHNUNG Nr. 2026-17"));
    assert!(!subject.is_match("Mitgliedsantrag"));

    let spam = &config.filters[1];
    assert_eq!(spam.name, "spam");
    assert_eq!(
        spam.matches,
        BTreeMap::from([("X-Spam-Flag".to_string(), "(?i)^yes$".to_string())])
    );
    assert!(spam.ignore);
    assert_eq!(spam.set, Default::default());

    let mail = &config.mail;
    assert_eq!(mail.default_queue.as_deref(), Some("Allgemein"));
    assert_eq!(mail.outbound.as_deref(), Some("maildir:./outbox"));
    assert_eq!(mail.auto_responses_per_sender_per_day, 10);
    assert_eq!(mail.max_message_size, 20_000_000);
    assert!(!mail.follow_up_by_body);

    // Not given, so the OTRS defaults.
    let closed = config.state("closed successful").expect("default states");
    assert_eq!(closed.state_type, StateType::ClosedSuccessful);
    assert_eq!(config.rules.new_state, "new");
    assert_eq!(config.rules.open_state, "open");
}

#[test]
fn the_document_survives_serialisation() {
    // Stores keep the document serialised; what comes back must be the same configuration.
    let mut config = example();
    config.customers.clear(); // the stored document keeps no customers

    let json = serde_json::to_string(&config).unwrap();
    let from_json: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(from_json, config, "JSON round trip");

    let toml = toml::to_string(&config).unwrap();
    let from_toml = Config::from_toml(&toml).unwrap();
    assert_eq!(from_toml, config, "TOML round trip:\n{toml}");
}

// ---------------------------------------------------------------------------------------------
// Validation: the problem and where it is
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_group_in_queue() {
    let toml = edited(
        "name = \"Vorstand\"\ngroup = \"support\"",
        "name = \"Vorstand\"\ngroup = \"vorstand\"",
    );
    assert_refused(&toml, "queue \"Vorstand\"", "unknown group \"vorstand\"");
}

#[test]
fn unknown_group_in_role() {
    let toml = edited(
        "groups = { finance = [\"ro\", \"note\"] }",
        "groups = { finanzen = [\"ro\", \"note\"] }",
    );
    assert_refused(&toml, "role \"Buchhaltung\"", "unknown group \"finanzen\"");
}

#[test]
fn unknown_group_on_agent() {
    let toml = edited(
        "groups = { support = [\"rw\"] }",
        "groups = { suport = [\"rw\"] }",
    );
    assert_refused(&toml, "agent \"anna\"", "unknown group \"suport\"");
}

#[test]
fn unknown_role_on_agent() {
    let toml = edited("roles = [\"Buchhaltung\"]", "roles = [\"Buchhalter\"]");
    assert_refused(&toml, "agent \"bernd\"", "unknown role \"Buchhalter\"");
}

#[test]
fn duplicate_queue() {
    let toml = edited(
        "[[queues]]\nname = \"Vorstand::Schatzmeister\"",
        "[[queues]]\nname = \"Vorstand\"\ngroup = \"finance\"\n\n\
         [[queues]]\nname = \"Vorstand::Schatzmeister\"",
    );
    assert_refused(&toml, "queue \"Vorstand\"", "duplicate queue");
}

#[test]
fn missing_parent_queue() {
    // The example without "Vorstand": its sub-queue has no parent.
    let toml = edited(
        "[[queues]]\nname = \"Vorstand\"\ngroup = \"support\"\n\n",
        "",
    );
    assert_refused(
        &toml,
        "queue \"Vorstand::Schatzmeister\"",
        "parent queue \"Vorstand\" does not exist",
    );

    // Each level needs its parent, not only the root.
    let toml = r#"
        [[groups]]
        name = "g"
        [[queues]]
        name = "A"
        group = "g"
        [[queues]]
        name = "A::B::C"
        group = "g"
    "#;
    assert_refused(
        toml,
        "queue \"A::B::C\"",
        "parent queue \"A::B\" does not exist",
    );
}

#[test]
fn empty_queue_name_parts() {
    let toml = r#"
        [[groups]]
        name = "g"
        [[queues]]
        name = "A"
        group = "g"
        [[queues]]
        name = "A::"
        group = "g"
    "#;
    assert_refused(toml, "queue \"A::\"", "empty");
}

#[test]
fn unknown_state_type_names_the_line() {
    let toml = "[[states]]\nname = \"new\"\ntype = \"new\"\n\n\
                [[states]]\nname = \"waiting for parts\"\ntype = \"pending_parts\"\n";
    assert_unparsable(toml, "pending_parts", 7);
}

#[test]
fn unknown_template_in_auto_response() {
    let toml = edited(
        "auto_response = { reject = \"rejected\" }",
        "auto_response = { reject = \"rejekted\" }",
    );
    assert_refused(
        &toml,
        "queue \"Vorstand::Schatzmeister\"",
        "unknown template \"rejekted\"",
    );
}

#[test]
fn unknown_calendar() {
    let toml = edited("calendar = \"office\"", "calendar = \"büro\"");
    assert_refused(&toml, "queue \"Allgemein\"", "unknown calendar \"büro\"");
}

#[test]
fn bad_time_zone() {
    let toml = edited(
        "time_zone = \"Europe/Berlin\"",
        "time_zone = \"Europe/Bärlin\"",
    );
    assert_refused(
        &toml,
        "calendar \"office\"",
        "unknown time zone \"Europe/Bärlin\"",
    );
}

#[test]
fn bad_working_hours_and_holidays() {
    let toml = edited("fri = \"09:00-15:00\"", "fri = \"15:00-09:00\"");
    assert_refused(&toml, "calendar \"office\"", "fri");

    let toml = edited("\"2026-12-26\"]", "\"2026-12-32\"]");
    assert_refused(&toml, "calendar \"office\"", "holiday \"2026-12-32\"");
}

#[test]
fn bad_regex_in_filter() {
    let toml = edited("(?i)rechnung|invoice", "(?i)rechnung|(invoice");
    assert_refused(&toml, "filter \"invoices\"", "bad regex");
}

#[test]
fn filter_sets_unknown_queue_or_bad_priority() {
    let toml = edited(
        "set = { queue = \"Vorstand::Schatzmeister\", priority = 4 }",
        "set = { queue = \"Vorstand::Kasse\", priority = 4 }",
    );
    assert_refused(
        &toml,
        "filter \"invoices\"",
        "unknown queue \"Vorstand::Kasse\"",
    );

    let toml = edited("priority = 4", "priority = 9");
    assert_refused(&toml, "filter \"invoices\"", "priority 9");
}

#[test]
fn unknown_default_queue() {
    let toml = edited(
        "default_queue = \"Allgemein\"",
        "default_queue = \"Posteingang\"",
    );
    assert_refused(&toml, "[mail]", "unknown default_queue \"Posteingang\"");
}

#[test]
fn typo_in_a_field_name_is_refused_with_its_name_and_line() {
    let toml = edited("unlock_timeout = \"12h\"", "unlock_timout = \"12h\"");
    assert_unparsable(&toml, "unlock_timout", line_of(&toml, "unlock_timout"));

    let toml = edited(
        "auto_responses_per_sender_per_day = 10",
        "auto_response_per_sender_per_day = 10",
    );
    assert_unparsable(
        &toml,
        "auto_response_per_sender_per_day",
        line_of(&toml, "auto_response_per_sender_per_day"),
    );

    // A misspelt section is as unknown as a misspelt field.
    let toml = edited("[mail]", "[mails]");
    assert_unparsable(&toml, "mails", line_of(&toml, "[mails]"));
}

#[test]
fn bad_durations_and_sizes_name_the_value_and_line() {
    let toml = edited("update = \"1d\"", "update = \"one day\"");
    assert_unparsable(&toml, "one day", line_of(&toml, "one day"));

    let toml = edited(
        "max_message_size = \"20MB\"",
        "max_message_size = \"20 Zoll\"",
    );
    assert_unparsable(&toml, "20 Zoll", line_of(&toml, "20 Zoll"));
}

#[test]
fn two_queues_with_the_same_address() {
    // Addresses compare case-insensitively: mail does.
    let toml = edited(
        "address = \"kasse@example.org\"",
        "address = \"INFO@example.org\"",
    );
    assert_refused(
        &toml,
        "queue \"Vorstand::Schatzmeister\"",
        "address \"INFO@example.org\" is already",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let toml = edited("calendar = \"office\"", "calendar = \"büro\"")
        .replace("roles = [\"Buchhaltung\"]", "roles = [\"Buchhalter\"]")
        .replace(
            "default_queue = \"Allgemein\"",
            "default_queue = \"Posteingang\"",
        );
    let Err(ConfigError::Invalid(problems)) = Config::from_toml(&toml) else {
        panic!("three mistakes, yet no validation problems");
    };
    let found: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let bernd = line_of(&toml, "login = \"bernd\"");
    let allgemein = line_of(&toml, "name = \"Allgemein\"");
    let mail = line_of(&toml, "[mail]");
    assert_eq!(
        found,
        [
            format!("line {bernd}, agent \"bernd\": unknown role \"Buchhalter\""),
            format!("line {allgemein}, queue \"Allgemein\": unknown calendar \"büro\""),
            format!("line {mail}, [mail]: unknown default_queue \"Posteingang\""),
        ],
        "one problem per mistake"
    );
}

#[test]
fn duplicate_customer_email_is_a_configuration_problem() {
    // Customer emails are unique in the directory (mail ingest finds customers by address);
    // a document that cannot be applied must be refused by validation, before anything is
    // written, not half-applied by `Desk::configure`.
    let toml = edited(
        "company = \"ACME\"\n",
        "company = \"ACME\"\n\n[[customers]]\nlogin = \"kunde2\"\nemail = \"Karla@Example.com\"\n",
    );
    let Err(err) = Config::from_toml(&toml) else {
        panic!("kunde1 and kunde2 share the address karla@example.com, yet it was accepted");
    };
    let text = err.to_string();
    assert!(
        text.contains("customer \"kunde2\"") && text.to_lowercase().contains("karla@example.com"),
        "names the customer and the address: {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Through a Desk
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_desk_without_configuration_says_so() {
    let desk = desk();
    let err = desk
        .create_ticket(
            &Actor::System,
            NewTicket::new("Allgemein", "Hallo", Channel::Web, Message::text("?")),
        )
        .await
        .expect_err("not configured");
    assert_eq!(err, Error::NotConfigured);
}

#[tokio::test]
async fn configure_stores_the_document_and_the_customers() -> ticketcore::Result<()> {
    let desk = desk();
    let version = desk.configure(example()).await?;
    assert_eq!(version, 1);

    let mut expected = example();
    expected.customers.clear();
    let stored = desk
        .store_unchecked()
        .config()
        .await?
        .expect("a stored document");
    assert_eq!(stored.version, 1);
    assert_eq!(
        stored.config, expected,
        "stored as given, minus the customers"
    );
    assert_eq!(*desk.config().await?, expected);

    let karla = desk
        .store_unchecked()
        .customer("kunde1")
        .await?
        .expect("kunde1");
    assert_eq!(karla.name, "Karla Kunde");
    assert_eq!(karla.email, "karla@example.com");
    assert_eq!(karla.company.as_deref(), Some("ACME"));
    for spelling in [
        "karla@example.com",
        "Karla@Example.COM",
        "KARLA@EXAMPLE.COM",
    ] {
        let found = desk.store_unchecked().customer_by_email(spelling).await?;
        assert_eq!(
            found.map(|c| c.login).as_deref(),
            Some("kunde1"),
            "{spelling}"
        );
    }
    assert_eq!(
        desk.store_unchecked()
            .customer_by_email("karl@example.com")
            .await?,
        None
    );
    assert_eq!(desk.store_unchecked().customer("kunde2").await?, None);
    Ok(())
}

#[tokio::test]
async fn the_example_desk_works_as_configured() -> ticketcore::Result<()> {
    let desk = desk();
    desk.configure(example()).await?;
    let anna = Actor::agent("anna");
    let bernd = Actor::agent("bernd");

    let ticket = desk
        .create_ticket(
            &Actor::customer("kunde1"),
            NewTicket::new(
                "Allgemein",
                "Drucker",
                Channel::Web,
                Message::text("Er druckt nicht."),
            ),
        )
        .await?
        .ticket;

    // DateChecksum, SystemID 10: YYYYMMDD + 10 + 5-digit counter + check digit.
    let number = ticket.number.as_str();
    assert_eq!(number.len(), 16, "{number}");
    assert!(number.starts_with("2026030210"), "{number}");
    assert_eq!(desk.find(&anna, number).await?.id, ticket.id);

    // unlock_timeout = "12h" in the "office" calendar: twelve working hours, from Monday
    // 10:00 Berlin (7 hours left that day) to Tuesday 14:00 Berlin.
    let locked = desk.lock(&anna, ticket.id).await?.ticket;
    let Lock::Locked { by, since, until } = &locked.lock else {
        panic!("locked: {:?}", locked.lock);
    };
    assert_eq!(by, "anna");
    assert_eq!(since.to_rfc3339(), "2026-03-02T09:00:00+00:00");
    assert_eq!(
        until.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-03-03T13:00:00+00:00")
    );

    // Buchhaltung: bernd sees the treasurer's queue and notes there, but nothing of support.
    let kasse = desk
        .create_ticket(
            &Actor::System,
            NewTicket::new(
                "Vorstand::Schatzmeister",
                "Rechnung 17",
                Channel::Phone,
                Message::text("Bitte zahlen."),
            ),
        )
        .await?
        .ticket;
    assert!(matches!(
        desk.ticket(&bernd, ticket.id).await,
        Err(Error::NotFound(_))
    ));
    desk.ticket(&bernd, kasse.id).await?;
    desk.note(&bernd, kasse.id, Message::text("Gebucht."), false, &[])
        .await?;
    assert!(matches!(
        desk.set_state(&bernd, kasse.id, "closed successful", None)
            .await,
        Err(Error::Denied { .. })
    ));
    let view = desk.queue_view(&bernd, TicketQuery::default()).await?;
    let ids: Vec<_> = view.tickets.iter().map(|t| t.id).collect();
    assert_eq!(ids, [kasse.id]);
    Ok(())
}

#[tokio::test]
async fn reconfiguring_replaces_the_document_and_keeps_tickets() -> ticketcore::Result<()> {
    let desk = desk();
    desk.configure(example()).await?;
    let anna = Actor::agent("anna");

    let ticket = desk
        .create_ticket(
            &Actor::customer("kunde1"),
            NewTicket::new(
                "Allgemein",
                "Protokoll fehlt",
                Channel::Web,
                Message::text("Wo ist das Protokoll?"),
            ),
        )
        .await?
        .ticket;
    desk.lock(&anna, ticket.id).await?;
    let before = desk
        .note(&anna, ticket.id, Message::text("Ich suche."), false, &[])
        .await?
        .ticket;
    let history_before = desk.history(&anna, ticket.id).await?;

    // Version 2: a new sub-queue, Karla renamed.
    let text = edited(
        "[[queues]]\nname = \"Vorstand::Schatzmeister\"",
        "[[queues]]\nname = \"Vorstand::Protokolle\"\ngroup = \"support\"\n\n\
         [[queues]]\nname = \"Vorstand::Schatzmeister\"",
    )
    .replace("Karla Kunde", "Karla Kunde-Meier");
    let version = desk.configure(Config::from_toml(&text)?).await?;
    assert_eq!(version, 2);
    assert_eq!(
        desk.store_unchecked().config().await?.map(|c| c.version),
        Some(2)
    );
    assert!(desk.config().await?.queue("Vorstand::Protokolle").is_some());
    assert_eq!(
        desk.store_unchecked()
            .customer("kunde1")
            .await?
            .map(|c| c.name)
            .as_deref(),
        Some("Karla Kunde-Meier")
    );

    // The ticket is untouched and works under the new document.
    let after = desk.ticket(&anna, ticket.id).await?;
    assert_eq!(after, before);
    assert_eq!(desk.history(&anna, ticket.id).await?, history_before);
    let moved = desk
        .move_ticket(&anna, ticket.id, "Vorstand::Protokolle")
        .await?
        .ticket;
    assert_eq!(moved.queue, "Vorstand::Protokolle");
    assert_eq!(moved.number, before.number);
    let view = desk.queue_view(&anna, TicketQuery::default()).await?;
    assert_eq!(
        view.tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
        [ticket.id]
    );

    // A refused document changes nothing.
    let broken = example();
    let mut broken = broken;
    broken.mail.default_queue = Some("Posteingang".into());
    broken.customers[0].name = "Niemand".into();
    let err = desk.configure(broken).await.expect_err("invalid");
    assert!(
        matches!(err, Error::Config(ConfigError::Invalid(_))),
        "{err}"
    );
    assert_eq!(
        desk.store_unchecked().config().await?.map(|c| c.version),
        Some(2)
    );
    assert_eq!(
        desk.store_unchecked()
            .customer("kunde1")
            .await?
            .map(|c| c.name)
            .as_deref(),
        Some("Karla Kunde-Meier")
    );
    Ok(())
}

#[tokio::test]
async fn tickets_of_a_configured_customer_carry_their_company() -> ticketcore::Result<()> {
    // `company = "ACME"` is the customer's OTRS CustomerID: every ticket of kunde1 belongs to
    // ACME, whoever opened it and whether or not company-wide visibility is switched on
    // (switching it on later must reveal the tickets that exist already).
    let desk = desk();
    desk.configure(example()).await?;

    let by_customer = desk
        .create_ticket(
            &Actor::customer("kunde1"),
            NewTicket::new("Allgemein", "Web", Channel::Web, Message::text("1")),
        )
        .await?
        .ticket;
    assert_eq!(by_customer.customer.as_deref(), Some("kunde1"));
    assert_eq!(
        by_customer.customer_company.as_deref(),
        Some("ACME"),
        "opened by the customer"
    );

    let by_agent = desk
        .create_ticket(
            &Actor::agent("anna"),
            NewTicket::new("Allgemein", "Anruf", Channel::Phone, Message::text("2"))
                .for_customer("kunde1"),
        )
        .await?
        .ticket;
    assert_eq!(
        by_agent.customer_company.as_deref(),
        Some("ACME"),
        "opened by an agent for the customer"
    );
    Ok(())
}

#[test]
fn one_click_actions_name_what_exists() {
    for (line, message) in [
        (
            "reply = \"no-such-template\"",
            "unknown template \"no-such-template\"",
        ),
        ("state = \"waiting\"", "unknown state \"waiting\""),
        ("queue = \"Nowhere\"", "unknown queue \"Nowhere\""),
        ("priority = 9", "priority must be 1..=5"),
        ("", "does nothing"),
    ] {
        let toml = format!("{EXAMPLE}\n[[macros]]\nname = \"ask\"\n{line}\n");
        assert_refused(&toml, "macro \"ask\"", message);
    }
    let fine = format!("{EXAMPLE}\n[[macros]]\nname = \"ask\"\nstate = \"open\"\npriority = 4\n");
    let fine = Config::from_toml(&fine).unwrap();
    assert_eq!(
        fine.macros
            .iter()
            .find(|m| m.name == "ask")
            .unwrap()
            .label(),
        "ask"
    );
    assert_eq!(fine.macros[0].label(), "Ask for details, wait 2 days");
}
