//! A desk for mail tests: queues with system addresses and each follow-up policy, templates,
//! filters; a manual clock; corpus files with placeholders filled in.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ticketcore::testkit::epoch;
use ticketcore::{Config, Desk, ManualClock, MemoryStore, SeededEntropy, Store, Ticket};
use ticketcore_mail::{Delivery, Outgoing, Postmaster, SendError, Transport};

pub const CONFIG: &str = r#"
[numbers]
generator = "DateChecksum"

[[groups]]
name = "support"
[[groups]]
name = "verein"

[[queues]]
name = "Support"
group = "support"
address = "support@desk.example"
auto_response = { new_ticket = "received", follow_up = "follow-up" }

[[queues]]
name = "Verein"
group = "verein"
address = "info@verein.example"
auto_response = { new_ticket = "received" }

[[queues]]
name = "Verein::Kasse"
group = "verein"
follow_up = "reject"
auto_response = { reject = "rejected" }

[[queues]]
name = "Archiv"
group = "support"
follow_up = "new_ticket"

[[agents]]
login = "anna"
name = "Anna Agent"
email = "anna@desk.example"
groups = { support = ["rw"], verein = ["rw"] }
# The mail tests count the customers' mail; agents_are_told_by_mail turns these on.
notifications = { kinds = [] }

[[customers]]
login = "karla"
name = "Karla Kunde"
email = "karla@example.com"

[[templates]]
name = "received"
subject = "[{{ticket.hook}}] Re: {{ticket.title}}"
body = "Dear {{customer.name}},\nwe received your request and filed it as {{ticket.number}}.\n"

[[templates]]
name = "follow-up"
subject = "[{{ticket.hook}}] Re: {{ticket.title}}"
body = "We added your message to {{ticket.number}}.\n"

[[templates]]
name = "rejected"
subject = "[{{ticket.hook}}] Re: {{ticket.title}}"
body = "This request is closed. Please write a new mail.\n"

[[filters]]
name = "invoices"
match = { subject = "(?i)rechnung|invoice" }
set = { queue = "Verein::Kasse", priority = 4 }

[[filters]]
name = "vip"
match = { from = "(?i)@vip\\.example>?$", body = "(?i)urgent" }
set = { state = "open", title = "VIP: urgent request", customer = "karla" }

[[filters]]
name = "spam"
match = { "X-Spam-Flag" = "(?i)^yes$" }
ignore = true

[mail]
default_queue = "Support"
auto_responses_per_sender_per_day = 10
"#;

pub struct Setup {
    pub desk: Arc<Desk>,
    pub postmaster: Postmaster,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
}

impl Setup {
    /// The ticket a delivery created or followed up on.
    pub async fn filed(&self, delivery: &Delivery) -> Ticket {
        let number = delivery.ticket.as_ref().expect("a delivery onto a ticket");
        self.store.ticket_by_number(number).await.unwrap().unwrap()
    }
}

pub async fn setup_with(config: &str) -> Setup {
    setup_on(Arc::new(MemoryStore::new()), config).await
}

pub async fn setup_on(store: Arc<dyn Store>, config: &str) -> Setup {
    let clock = ManualClock::new(epoch());
    let desk = Desk::new(store.clone())
        .with_clock(Arc::new(clock.clone()))
        .with_entropy(Arc::new(SeededEntropy::new(5)));
    desk.configure(Config::from_toml(config).unwrap())
        .await
        .unwrap();
    let desk = Arc::new(desk);
    Setup {
        postmaster: Postmaster::new(desk.clone()),
        desk,
        clock,
        store,
    }
}

pub async fn setup() -> Setup {
    setup_with(CONFIG).await
}

/// A corpus file with `{{NAME}}` placeholders replaced.
pub fn corpus(name: &str, fill: &[(&str, &str)]) -> Vec<u8> {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (key, value) in fill {
        let needle = format!("{{{{{key}}}}}");
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        while let Some(at) = rest
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
        {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(value.as_bytes());
            rest = &rest[at + needle.len()..];
        }
        out.extend_from_slice(rest);
        bytes = out;
    }
    bytes
}

/// A simple message.
pub fn mail(from: &str, to: &str, subject: &str, id: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}\r\nHello.\r\n"
    )
    .into_bytes()
}

/// A transport that fails (temporarily) while `down` is set, and keeps what it sends.
#[derive(Debug, Default)]
pub struct Flaky {
    pub down: std::sync::atomic::AtomicBool,
    pub sent: Captured,
}

#[async_trait]
impl Transport for Flaky {
    async fn send(&self, mail: &Outgoing) -> Result<(), SendError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SendError::Temporary("connection refused".into()));
        }
        self.sent.send(mail).await
    }
}

/// A transport that keeps what it is given.
#[derive(Debug, Default)]
pub struct Captured(pub Mutex<Vec<Outgoing>>);

#[async_trait]
impl Transport for Captured {
    async fn send(&self, mail: &Outgoing) -> Result<(), SendError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

impl Captured {
    pub fn take(&self) -> Vec<Outgoing> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}
