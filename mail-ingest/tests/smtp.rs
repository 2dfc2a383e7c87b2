//! The SMTP transport against a receiver on 127.0.0.1 started by the test: a mail arrives
//! whole with its envelope; a 5xx refusal is permanent, an unreachable relay temporary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use ticketcore_mail::transport::Smtp;
use ticketcore_mail::{Outgoing, SendError, Transport};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the receiver got: envelope sender, recipients, data.
#[derive(Debug, Default, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP receiver; `refuse_rcpt` answers RCPT with 550.
async fn receiver(refuse_rcpt: bool) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut current = Received::default();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-test\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        current.from = line[10..].trim().to_string();
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        if refuse_rcpt {
                            b"550 5.1.1 no such user\r\n"
                        } else {
                            current.to.push(line[8..].trim().to_string());
                            b"250 ok\r\n"
                        }
                    } else if upper == "DATA" {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            current.data.push_str(l.strip_prefix('.').unwrap_or(&l));
                            current.data.push('\n');
                        }
                        store.lock().unwrap().push(std::mem::take(&mut current));
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, got)
}

fn outgoing(from: Option<&str>) -> Outgoing {
    Outgoing {
        envelope_from: from.map(String::from),
        recipients: vec!["karla@example.com".into()],
        message_id: "m1@desk.example".into(),
        raw: b"From: support@desk.example\r\nTo: karla@example.com\r\nSubject: [Ticket#1] hi\r\nMessage-ID: <m1@desk.example>\r\n\r\n.leading dot\r\nbody\r\n".to_vec(),
    }
}

#[tokio::test]
async fn a_mail_arrives_with_its_envelope() {
    let (port, got) = receiver(false).await;
    let smtp = Smtp::new("127.0.0.1", port);
    smtp.send(&outgoing(Some("support@desk.example")))
        .await
        .unwrap();
    smtp.send(&outgoing(None)).await.unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].from, "<support@desk.example>");
    assert_eq!(got[0].to, ["<karla@example.com>"]);
    assert!(got[0].data.contains("Subject: [Ticket#1] hi"));
    assert!(
        got[0].data.contains("\n.leading dot\n"),
        "dot-stuffing undone: {}",
        got[0].data
    );
    assert_eq!(got[1].from, "<>", "the null sender");
}

#[tokio::test]
async fn refusals_are_permanent_and_unreachable_relays_temporary() {
    let (port, _) = receiver(true).await;
    match Smtp::new("127.0.0.1", port).send(&outgoing(None)).await {
        Err(SendError::Permanent(reason)) => assert!(
            reason.contains("550") || reason.contains("no such user"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    match Smtp::new("127.0.0.1", port).send(&outgoing(None)).await {
        Err(SendError::Temporary(_)) => {}
        other => panic!("{other:?}"),
    }
}
