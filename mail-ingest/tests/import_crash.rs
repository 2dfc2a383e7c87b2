//! A crash mid-import loses and duplicates nothing: a child process imports an mbox into a
//! redb desk and is killed with SIGKILL at varying moments; the import is then run again to
//! the end. Every message the child reported as delivered is there, every message of the
//! mbox is there exactly once, and nothing is there twice.
//!
//! One binary, two roles: with `TICKETCORE_IMPORT_CHILD=<dir>` it is the importer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ticketcore::{Config, Desk, Store};
use ticketcore_mail::Postmaster;
use ticketcore_mail::source::{Mbox, deliver_mbox};
use ticketcore_redb::RedbStore;

const CHILD: &str = "TICKETCORE_IMPORT_CHILD";
const MESSAGES: usize = 600;
const KILLS: u64 = 8;

const CONFIG: &str = r#"
[[groups]]
name = "support"
[[queues]]
name = "Support"
group = "support"
address = "support@desk.example"
auto_response = { new_ticket = "received" }
[[templates]]
name = "received"
subject = "Re: {{ticket.title}}"
body = "Filed as {{ticket.number}}."
[mail]
default_queue = "Support"
"#;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var(CHILD) {
        Ok(dir) => rt.block_on(import(Path::new(&dir), true)),
        Err(_) => {
            if std::env::args().any(|a| a == "--list") {
                return;
            }
            let kills = rt.block_on(parent());
            println!(
                "import crash: {kills} SIGKILLs mid-import, {MESSAGES} messages each taken once"
            );
        }
    }
}

fn write_mbox(path: &Path) {
    let mut mbox = Vec::new();
    for i in 0..MESSAGES {
        // Every fourth message answers an earlier one: follow-ups by reference.
        let reply = if i % 4 == 3 {
            format!("In-Reply-To: <m{}@import.example>\n", i - 1)
        } else {
            String::new()
        };
        mbox.extend_from_slice(
            format!(
                "From c{i}@example.org Mon Mar  2 09:00:00 2026\nFrom: c{i}@example.org\n\
                 To: support@desk.example\nSubject: request {i}\nMessage-ID: <m{i}@import.example>\n\
                 {reply}\nbody {i}\n\n"
            )
            .as_bytes(),
        );
    }
    std::fs::write(path, mbox).unwrap();
}

/// Imports the mbox into the desk in `dir`; with `report`, prints each delivered Message-ID.
async fn import(dir: &Path, report: bool) {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.join("desk.redb")).expect("open"));
    let desk = Desk::new(store.clone());
    if store.config().await.unwrap().is_none() {
        let _ = desk.configure(Config::from_toml(CONFIG).unwrap()).await;
    }
    let postmaster = Arc::new(Postmaster::new(Arc::new(desk)));
    let mut out = std::io::stdout();
    let (mbox, _) = Mbox::open(&dir.join("import.mbox")).expect("mbox");
    deliver_mbox(postmaster, mbox, 16, |h| {
        if report && let Ok(d) = &h.result {
            let n = h.source.rsplit('#').next().unwrap_or_default();
            writeln!(
                out,
                "m{}@import.example {:?}",
                n.parse::<usize>().unwrap() - 1,
                d.outcome
            )
            .unwrap();
            out.flush().unwrap();
        }
    })
    .await
    .expect("import");
}

async fn parent() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    write_mbox(&dir.path().join("import.mbox"));
    let mut reported = BTreeSet::new();
    for kill in 0..KILLS {
        let delay = Duration::from_millis(150 + (kill * 7919) % 600);
        for line in ticketcore::testkit::killed_child(CHILD, dir.path(), delay) {
            if let Some(id) = line.split(' ').next() {
                reported.insert(id.to_string());
            }
        }
    }
    // Finish the import, then look.
    import(dir.path(), false).await;
    let store = RedbStore::open(dir.path().join("desk.redb")).unwrap();
    let mut ids = Vec::new();
    for t in ticketcore::testkit::all_tickets(&store).await {
        for a in store.articles(t.id).await.unwrap() {
            if let Some(id) = a.message_id.filter(|id| id.ends_with("@import.example")) {
                ids.push(id);
            }
        }
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a message was taken twice");
    assert_eq!(ids.len(), MESSAGES, "every message is there");
    for id in &reported {
        assert!(
            unique.contains(id),
            "{id} was reported delivered and is gone"
        );
    }
    assert!(
        !reported.is_empty(),
        "the child delivered something before its kills"
    );
    KILLS
}
