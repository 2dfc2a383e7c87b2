//! MTA pipe mode: one `ticketctl ingest` process per message, as an MTA delivers, on a desk
//! holding 100,000 tickets, new requests and follow-ups (by In-Reply-To) alternating. Each
//! iteration is the whole cost: process start, opening the store, parsing, the durable
//! commit, closing. The desks are built once under target/pipe-bench (about two minutes)
//! and reused; every run sends fresh Message-IDs, so nothing is a duplicate.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

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

fn ticketctl(store: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--store").arg(store).args(args);
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
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("desk.toml");
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

fn bench(c: &mut Criterion) {
    let dir = dir();
    let redb = format!("redb:{}", dir.join("desk.redb").display());
    let sqlite = format!("sqlite:{}", dir.join("desk.db").display());
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
    for (name, store) in [("redb", &redb), ("sqlite", &sqlite)] {
        let mut n = 0;
        group.bench_function(format!("{name}: one process per message"), |b| {
            b.iter(|| {
                pipe(store, &message(run_id, n));
                n += 1;
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
