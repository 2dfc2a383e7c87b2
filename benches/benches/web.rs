//! The web server under load: a load generator (not criterion: it measures a server, not a
//! function) against `ticketcore-web`'s router serving a redb desk of 100,000 tickets
//! (`TICKETCORE_BENCH_WEB_TICKETS` for another size) in a process of its own.
//!
//! - 50 concurrent clients for 10 s each on `GET /api/tickets`, the dashboard and a ticket
//!   page: requests per second, p50 and p99 latency;
//! - a ticket of 200 articles with 50 inline images, one page request at a time;
//! - 1,000 open event streams: the server's resident memory before and with them.
//!
//! `cargo bench -p ticketcore-benches --bench web`; figures in BENCHMARKS.md.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stderr,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ticketcore::article::NewAttachment;
use ticketcore::{Actor, Channel, Desk, Message, NewTicket, Store};
use ticketcore_benches::{desk, populate};
use ticketcore_redb::RedbStore;
use tokio::io::AsyncWriteExt;

/// As the `ticketcore-web` binary: the server process runs on mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERVE: &str = "TICKETCORE_BENCH_WEB_SERVE";
const CLIENTS: usize = 50;
const RUN: Duration = Duration::from_secs(10);
const STREAMS: usize = 1000;
const PASSWORD: &str = "bench-password-2026";

type Http = Client<HttpConnector, Full<Bytes>>;

fn main() {
    // Re-run as the server: `SERVE=path,address`.
    if let Ok(spec) = std::env::var(SERVE) {
        let (path, address) = spec.split_once(',').expect("path,address");
        return serve(path, address);
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks which benchmarks exist: none to list here.
    }
    let tickets: usize = std::env::var("TICKETCORE_BENCH_WEB_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.redb");
    let (big, small) = rt.block_on(prepare(&path, tickets));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut server = std::process::Command::new(std::env::current_exe().unwrap())
        .env(SERVE, format!("{},{address}", path.display()))
        .spawn()
        .expect("server process");
    let pid = server.id();
    rt.block_on(measure(
        &format!("http://{address}"),
        pid,
        tickets,
        &big,
        &small,
    ));
    let _ = server.kill();
    let _ = server.wait();
}

/// The desk: the population, anna's password, a ticket of 200 articles with 50 images.
async fn prepare(path: &std::path::Path, tickets: usize) -> (String, String) {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(path).expect("redb"));
    let desk = Arc::new(desk(store).await);
    let began = Instant::now();
    populate(&desk, tickets).await;
    eprintln!("web: {tickets} tickets stored in {:.1?}", began.elapsed());
    desk.set_password(&Actor::System, &Actor::agent("anna"), PASSWORD)
        .await
        .expect("password");
    let anna = Actor::agent("anna");
    let png = tiny_png();
    let input = NewTicket::new(
        "Support",
        "A long conversation",
        Channel::Email,
        Message::text("The first of 200 articles."),
    );
    let big = desk
        .create_ticket(&Actor::System, input)
        .await
        .expect("ticket")
        .ticket;
    for i in 1..200u32 {
        let mut message = Message::text(format!(
            "Article {i}: a paragraph of text as people write it in a support conversation, \
             with a question, an answer and some detail about what happened and when.\n"
        ));
        if i <= 50 {
            message.attachments.push(NewAttachment {
                name: format!("image{i:03}.png"),
                content_type: "image/png".into(),
                inline: true,
                data: [png.as_slice(), &i.to_le_bytes()].concat(),
            });
        }
        desk.note(&anna, big.id, message, true, &[])
            .await
            .expect("article");
    }
    let small = desk
        .queue_view(&anna, ticketcore_benches::working_view(1))
        .await
        .expect("view")
        .tickets[0]
        .number
        .to_string();
    // The search index catches up now, not while the server is measured.
    desk.search(
        &anna,
        "printer",
        ticketcore::Paging {
            after: None,
            limit: 1,
        },
    )
    .await
    .expect("search");
    (big.number.to_string(), small)
}

/// A 1×1 PNG.
fn tiny_png() -> Vec<u8> {
    vec![
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0a, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0,
        0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ]
}

/// The server process: the web router on the prepared file.
fn serve(path: &str, address: &str) {
    // As the binary builds its runtime (`BLOCKING_THREADS` there).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(path).expect("redb"));
        let desk = Arc::new(Desk::new(store));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("listen");
        let app = ticketcore_web::router(ticketcore_web::App::new(desk));
        axum::serve(listener, app).await.expect("serve");
    });
}

fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Threads:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn get(http: &Http, url: &str, cookie: &str) -> (u16, usize) {
    let request = axum::http::Request::get(url)
        .header("cookie", cookie)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = http.request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body.len())
}

/// `CLIENTS` clients requesting `url` for `RUN`: requests per second, p50, p99, max.
async fn load(http: &Http, url: &str, cookie: &str) -> (f64, Duration, Duration, Duration) {
    let began = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (http, url, cookie) = (http.clone(), url.to_string(), cookie.to_string());
        clients.push(tokio::spawn(async move {
            let mut took = Vec::new();
            while began.elapsed() < RUN {
                let start = Instant::now();
                let (status, _) = get(&http, &url, &cookie).await;
                assert_eq!(status, 200, "{url}");
                took.push(start.elapsed());
            }
            took
        }));
    }
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    let elapsed = began.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (
        all.len() as f64 / elapsed,
        at(0.5),
        at(0.99),
        all[all.len() - 1],
    )
}

async fn measure(base: &str, pid: u32, tickets: usize, big: &str, small: &str) {
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CLIENTS * 2)
        .build_http();
    // Wait for the server, then sign in.
    let mut cookie = String::new();
    for _ in 0..600 {
        let request = axum::http::Request::post(format!("{base}/api/session"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"login":"anna","password":"{PASSWORD}"}}"#
            ))))
            .unwrap();
        if let Ok(response) = http.request(request).await {
            cookie = response.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!cookie.is_empty(), "the server never answered");
    println!("web: {tickets} tickets, {CLIENTS} concurrent clients, {RUN:?} each, redb");
    println!(
        "web: server resident at start: {} MiB",
        resident_kib(pid) / 1024
    );
    streams(base, pid, &cookie, "a fresh server").await;
    for (name, path) in [
        ("GET /api/tickets", "/api/tickets".to_string()),
        ("dashboard", "/desk".to_string()),
        ("ticket page", format!("/tickets/{small}")),
    ] {
        let url = format!("{base}{path}");
        let (rps, p50, p99, max) = load(&http, &url, &cookie).await;
        println!(
            "web: {name:<18} {rps:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }

    // wrk (Debian's), when installed: a load generator in C takes less of the two cores.
    for (name, path) in [
        ("GET /api/tickets", "/api/tickets".to_string()),
        ("dashboard", "/desk".to_string()),
    ] {
        let url = format!("{base}{path}");
        let cookie_header = format!("Cookie: {cookie}");
        let wrk = std::process::Command::new("wrk")
            .args([
                "-t2",
                &format!("-c{CLIENTS}"),
                "-d10s",
                "--latency",
                "-H",
                &cookie_header,
                &url,
            ])
            .output();
        match wrk {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let pick = |prefix: &str| {
                    text.lines()
                        .find(|l| l.trim_start().starts_with(prefix))
                        .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
                        .unwrap_or_default()
                };
                let non_2xx = text
                    .lines()
                    .find(|l| l.contains("Non-2xx"))
                    .unwrap_or("")
                    .trim()
                    .to_string();
                println!(
                    "web: wrk {name:<14} {:>8} req/s  p50 {:>8}  p99 {:>8}  {non_2xx}",
                    pick("Requests/sec:"),
                    pick("50%"),
                    pick("99%")
                );
            }
            _ => println!("web: wrk not installed (apt-get install wrk): skipped"),
        }
    }

    // The long ticket, one request at a time.
    let url = format!("{base}/tickets/{big}");
    let mut took = Vec::new();
    let mut size = 0;
    for _ in 0..50 {
        let start = Instant::now();
        let (status, len) = get(&http, &url, &cookie).await;
        assert_eq!(status, 200);
        took.push(start.elapsed());
        size = len;
    }
    took.sort();
    println!(
        "web: ticket of 200 articles and 50 images ({} KiB of HTML): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        size / 1024,
        took[25].as_secs_f64() * 1e3,
        took[49].as_secs_f64() * 1e3,
        took[49].as_secs_f64() * 1e3
    );

    streams(base, pid, &cookie, "after the load (page cache filled)").await;
}

/// Opens `STREAMS` event streams and reports the server's resident memory with them.
async fn streams(base: &str, pid: u32, cookie: &str, when: &str) {
    let before = resident_kib(pid);
    let address = base.trim_start_matches("http://").to_string();
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let mut s = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        s.write_all(
            format!(
                "GET /api/events HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        streams.push(s);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with = resident_kib(pid);
    // Every stream is live: it got its 200 and headers.
    let mut answered = 0;
    for s in &mut streams {
        let mut buf = [0u8; 64];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(50), s.peek(&mut buf)).await
            && n > 0
            && buf.starts_with(b"HTTP/1.1 200")
        {
            answered += 1;
        }
    }
    println!(
        "web: {STREAMS} event streams open on {when} ({answered} answered 200): server resident {} MiB (before them {} MiB), {} threads",
        with / 1024,
        before / 1024,
        threads(pid)
    );
    drop(streams);
    tokio::time::sleep(Duration::from_secs(1)).await;
}
