//! The binary as a newcomer starts it: on an empty redb store it makes the demo desk, prints
//! the sign-ins and serves; the public FAQ answers over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

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
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /api/faq HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("content-security-policy"), "{response}");
    assert!(response.contains("\"entries\""), "{response}");
}
