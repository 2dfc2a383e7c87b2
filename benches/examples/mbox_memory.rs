//! Peak memory and rate of a bulk mbox import into redb, delivered as `ticketctl ingest
//! --mbox` delivers it: read as it goes, 256 messages in flight, on a single-threaded runtime
//! with mimalloc without transparent huge pages, redb opened with its bulk cache.
//!
//! ```sh
//! cargo run --release -p ticketcore-benches --example mbox_memory -- write /tmp/1m.mbox 1000000
//! cargo run --release -p ticketcore-benches --example mbox_memory -- import /tmp/1m.mbox /tmp/1m.redb
//! ```
//!
//! `write` writes an mbox of the mail benchmark's messages (requests and follow-ups, a
//! quarter with an attachment); `import` delivers it into a new desk and prints the rate,
//! the outcomes and the process's peak resident memory (VmHWM).
#![allow(clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ticketcore::{Config, Desk, Store};
use ticketcore_benches::mail::{CONFIG, message};
use ticketcore_benches::peak_rss_mib;
use ticketcore_mail::Postmaster;
use ticketcore_mail::source::{self, Mbox};
use ticketcore_redb::{RedbOptions, RedbStore};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2), args.get(3)) {
        (Some("write"), Some(path), count) => {
            let count = count.and_then(|c| c.parse().ok()).unwrap_or(1_000_000);
            write(Path::new(path), count);
        }
        (Some("import"), Some(mbox), Some(store)) => import(Path::new(mbox), Path::new(store)),
        _ => {
            eprintln!("usage: mbox_memory write FILE [COUNT] | import FILE STORE.redb");
            std::process::exit(2);
        }
    }
}

fn write(path: &Path, count: usize) {
    let file = std::fs::File::create(path).expect("create");
    let mut out = std::io::BufWriter::new(file);
    for i in 0..count {
        out.write_all(b"From c@example.org Mon Mar  2 09:00:00 2026\n")
            .expect("write");
        out.write_all(&message(0, i)).expect("write");
        out.write_all(b"\n").expect("write");
    }
    out.flush().expect("write");
    let size = std::fs::metadata(path).expect("written").len();
    println!("{count} messages, {} MiB", size >> 20);
}

fn import(path: &Path, store: &Path) {
    // As `ticketctl ingest` does for a bulk import.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Opened as `ticketctl ingest` opens it for a bulk import.
        let store = RedbStore::open_with(store, RedbOptions::bulk()).expect("open");
        let store: Arc<dyn Store> = Arc::new(store);
        let desk = Desk::new(store);
        desk.configure(Config::from_toml(CONFIG).expect("config"))
            .await
            .expect("configure");
        let postmaster = Arc::new(Postmaster::new(Arc::new(desk)));
        let (mbox, size) = Mbox::open(path).expect("mbox");
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        let start = Instant::now();
        let count = source::deliver_mbox(postmaster, mbox, source::IN_FLIGHT, |h| {
            let outcome = match &h.result {
                Ok(d) => format!("{:?}", d.outcome),
                Err(e) => format!("error: {e}"),
            };
            *outcomes.entry(outcome).or_default() += 1;
        })
        .await
        .expect("import");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{count} messages ({} MiB) in {secs:.1} s: {:.0} messages/s, {outcomes:?}, peak {}",
            size >> 20,
            count as f64 / secs,
            peak_rss_mib()
        );
    });
}
