//! MTA pipe mode: one `ticketctl ingest` process per message, as an MTA delivers, on a desk
//! holding 100,000 tickets, new requests and follow-ups (by In-Reply-To) alternating. Each
//! iteration is the whole cost: process start, opening the store, parsing, the durable
//! commit, closing; or, while `serve-tick` attends the desk, spooling it for serve-tick to
//! deliver (the time until the spool is empty is printed). The desks are built once under target/pipe-bench (about two minutes)
//! and reused; every run sends fresh Message-IDs, so nothing is a duplicate.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TICKETS: usize = 100_000;
const BIN: &str = env!("CARGO_BIN_EXE_ticketctl");

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pipe-bench");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary on `store`, run in the bench's directory (where the example configuration's
/// Maildir outbox then goes).
fn ticketctl(store: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--store").arg(store).args(args).current_dir(dir());
    cmd
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?} failed");
}

/// The seed request `i`, as an mbox entry.
fn seed(i: usize) -> String {
    format!(
        "From c{i}@example.com Thu Nov 26 09:00:00 2026\nFrom: Customer {i} <c{i}@example.com>\n\
         To: info@example.org\nSubject: Request number {i}\nMessage-ID: <seed-{i}@example.com>\n\
         Date: Thu, 26 Nov 2026 09:00:00 +0100\nContent-Type: text/plain; charset=utf-8\n\n\
         Please help with problem {i}.\n\n"
    )
}

/// A 100k-ticket desk on `store`, built through the binary: the example configuration,
/// then the seed mbox (redb), or an export of the redb desk imported (SQLite).
fn prepare(store: &str, marker: &Path, from: Option<&str>) {
    if marker.exists() {
        return;
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../app/demo/desk.toml");
    match from {
        None => {
            run(&mut ticketctl(
                store,
                &["init", "--config", config.to_str().unwrap()],
            ));
            let mbox = dir().join("seed.mbox");
            let text: String = (0..TICKETS).map(seed).collect();
            std::fs::write(&mbox, text).unwrap();
            run(
                ticketctl(store, &["ingest", "--mbox", mbox.to_str().unwrap()])
                    .stdout(Stdio::null()),
            );
        }
        Some(source) => {
            let export = dir().join("desk.jsonl");
            let file = std::fs::File::create(&export).unwrap();
            run(ticketctl(source, &["export", "--json"]).stdout(file));
            run(ticketctl(store, &["import", export.to_str().unwrap()]).stdout(Stdio::null()));
        }
    }
    std::fs::write(marker, "ready").unwrap();
}

/// Message `n` of this run: even ones new requests, odd ones answers to a seed request.
fn message(run: u128, n: usize) -> Vec<u8> {
    if n.is_multiple_of(2) {
        format!(
            "From: New {n} <n{n}@example.com>\nTo: info@example.org\nSubject: Fresh request {n}\n\
             Message-ID: <r{run}-{n}@example.com>\nDate: Thu, 26 Nov 2026 09:00:00 +0100\n\
             Content-Type: text/plain; charset=utf-8\n\nHello, number {n} here.\n"
        )
    } else {
        let j = (n * 7919) % TICKETS;
        format!(
            "From: Customer {j} <c{j}@example.com>\nTo: info@example.org\n\
             Subject: Re: Request number {j}\nMessage-ID: <r{run}-{n}@example.com>\n\
             In-Reply-To: <seed-{j}@example.com>\nReferences: <seed-{j}@example.com>\n\
             Date: Thu, 26 Nov 2026 09:00:00 +0100\nContent-Type: text/plain; charset=utf-8\n\n\
             More about problem {j}.\n"
        )
    }
    .into_bytes()
}

fn pipe(store: &str, raw: &[u8]) {
    let mut child = ticketctl(store, &["ingest"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "ingest exited with {status}");
}

/// Whether a serve-tick holds the spool's lock and has published the desk's limits (what
/// `ingest` checks before it spools).
fn attended(lock: &Path) -> bool {
    let Ok(file) = std::fs::File::open(lock) else {
        return false;
    };
    let held = matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    );
    held && std::fs::read_to_string(lock).is_ok_and(|l| l.contains("max_message_size="))
}

/// A running `serve-tick` attending the desk's spool, stopped (SIGTERM) when dropped.
struct Attendant {
    child: std::process::Child,
    spool: PathBuf,
}

impl Attendant {
    fn start(store: &str, file: &Path) -> Attendant {
        let child = ticketctl(store, &["serve-tick"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut spool = file.as_os_str().to_os_string();
        spool.push(".spool");
        let spool = PathBuf::from(spool);
        let lock = spool.join("attendant.lock");
        let started = std::time::Instant::now();
        while !attended(&lock) {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "serve-tick never attended"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Attendant { child, spool }
    }

    /// Waits until everything spooled is delivered; how long that took.
    fn drained(&self) -> Duration {
        let started = std::time::Instant::now();
        let count = |d: &str| std::fs::read_dir(self.spool.join(d)).unwrap().count();
        while count("new") > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "spool not drained"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(count("failed"), 0, "spooled mail set aside");
        started.elapsed()
    }
}

impl Drop for Attendant {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn bench(c: &mut Criterion) {
    let dir = dir();
    let redb_file = dir.join("desk.redb");
    let sqlite_file = dir.join("desk.db");
    let redb = format!("redb:{}", redb_file.display());
    let sqlite = format!("sqlite:{}", sqlite_file.display());
    prepare(&redb, &dir.join("redb.ready"), None);
    prepare(&sqlite, &dir.join("sqlite.ready"), Some(&redb));

    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut group = c.benchmark_group("mta_pipe_100k_tickets");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(1));
    let mut n = 0;
    for (name, store, file) in [
        ("redb", &redb, &redb_file),
        ("sqlite", &sqlite, &sqlite_file),
    ] {
        group.bench_function(format!("{name}: one process per message"), |b| {
            b.iter(|| {
                pipe(store, &message(run_id, n));
                n += 1;
            })
        });
        // The same, while serve-tick attends the desk: each process spools its message and
        // serve-tick delivers them in groups.
        let attendant = Attendant::start(store, file);
        let mut spooled = 0;
        group.bench_function(format!("{name}: spooled for serve-tick"), |b| {
            b.iter(|| {
                pipe(store, &message(run_id, n));
                n += 1;
                spooled += 1;
            })
        });
        let took = attendant.drained();
        println!(
            "{name}: serve-tick delivered the last of {spooled} spooled messages {took:?} after the final pipe"
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
