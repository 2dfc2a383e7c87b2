//! The binary as a newcomer starts it: on an empty redb store it makes the demo desk, prints
//! the sign-ins and serves; the public FAQ answers over a real socket; and as the desk's
//! resident it delivers mail an MTA's `ticketctl ingest` leaves in the spool, and another
//! process that wants the file learns at once that the server holds it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::http;
use ticketcore_app::Access;
use ticketcore_app::spool::Spool;

#[test]
fn an_empty_store_gets_the_demo_desk_and_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("redb:{}", dir.path().join("web.redb").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_ticketcore-web"))
        .args(["--listen", "127.0.0.1:0", "--store", &store])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let address = loop {
        let line = lines
            .next()
            .expect("the server said where it serves")
            .unwrap();
        printed.push(line.clone());
        if let Some(address) = line.strip_prefix("serving the desk at http://") {
            break address.to_string();
        }
    };
    assert!(
        printed
            .iter()
            .any(|l| l.contains("\"anna\"") && l.contains("demo-anna-2026")),
        "{printed:?}"
    );
    let response = http(
        &address,
        &format!("GET /api/faq HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("content-security-policy"), "{response}");
    assert!(response.contains("\"entries\""), "{response}");

    // Mail in the spool (what `ticketctl ingest` leaves while the server holds the file) is
    // delivered by the server's resident.
    let spool = Spool::of(&Access::new(&store).unwrap()).expect("a redb desk has a spool");
    let start = Instant::now();
    while spool.attended().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nobody attends the spool"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    spool
        .drop_off(
            b"From: Spooled Sender <spooled@example.net>\r\nTo: info@example.org\r\n\
              Subject: Delivered by the resident\r\nMessage-ID: <spooled-1@example.net>\r\n\r\n\
              Hello.\r\n",
        )
        .unwrap();
    spool.ring();
    let body = r#"{"login":"anna","password":"demo-anna-2026"}"#;
    let signed_in = http(
        &address,
        &format!(
            "POST /api/session HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let cookie = signed_in
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let start = Instant::now();
    loop {
        let found = http(
            &address,
            &format!(
                "GET /api/search?q=resident HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\
                 Connection: close\r\n\r\n"
            ),
        );
        if found.contains("Delivered by the resident") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not delivered: {found}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Another process that wants the file learns at once who holds it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let refused = runtime
        .block_on(Access::new(&store).unwrap().store())
        .expect_err("the server holds the file");
    assert!(started.elapsed() < Duration::from_secs(5), "no waiting");
    assert!(
        refused.message.contains("held by ticketcore-web")
            && refused.message.contains(&format!("pid {}", child.id())),
        "{}",
        refused.message
    );
    let _ = child.kill();
    let _ = child.wait();
}
