//! Webhooks against a receiver on 127.0.0.1 that fails the first attempts and checks every
//! signature: each event arrives once after the receiver took it, in order; a restart resumes
//! from the stored cursor; a receiver that keeps failing is paused and reported, one that
//! answers 410 is disabled; a template makes a chat message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use chrono::{Duration, TimeZone, Utc};
use ticketcore::{Actor, Channel, Config, Desk, ManualClock, MemoryStore, Message, NewTicket};
use ticketcore_app::webhook::{MAX_FAILURES, Webhooks, signature};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver does with the next posts, and what it took.
#[derive(Default)]
struct Receiver {
    /// Answer 500 to this many more posts to `/hook`.
    fail: usize,
    /// Answer 410 to `/hook` from now on.
    gone: bool,
    /// Every post: (id, body, signature valid, answered 2xx).
    posts: Vec<(String, String, bool, bool)>,
}

async fn receive(
    State(receiver): State<Arc<Mutex<Receiver>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers[name].to_str().unwrap().to_string();
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let body = String::from_utf8(body.to_vec()).unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let expected = signature(&key, &id, timestamp.parse().unwrap(), &body).unwrap();
    let valid = header("webhook-signature")
        .split(' ')
        .any(|s| s == expected);
    let mut r = receiver.lock().unwrap();
    // Only the event hook's receiver misbehaves; the chat keeps taking what it gets.
    let chat = uri.path() == "/chat";
    let status = if r.gone && !chat {
        StatusCode::GONE
    } else if r.fail > 0 && !chat {
        r.fail -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    r.posts.push((id, body, valid, status.is_success()));
    status
}

async fn receiver() -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver::default()));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .route("/chat", axum::routing::post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, state)
}

fn config(base: &str, template: bool) -> Config {
    let mut toml = format!(
        r#"
[[groups]]
name = "support"
[[queues]]
name = "Support"
group = "support"
[[webhooks]]
name = "tickets"
url = "{base}/hook"
secret = "{SECRET}"
events = ["NewTicket", "AddNote"]
queues = ["Support"]
"#
    );
    if template {
        toml.push_str(&format!(
            "[[webhooks]]\nname = \"chat\"\nurl = \"{base}/chat\"\nsecret = \"{SECRET}\"\n\
             events = [\"NewTicket\"]\ntemplate = \"{{{{event}}}}: [{{{{ticket.number}}}}] {{{{ticket.title}}}}\"\n"
        ));
    }
    Config::from_toml(&toml).expect("webhook configuration")
}

async fn ticket(desk: &Desk, title: &str) -> String {
    let input = NewTicket::new("Support", title, Channel::Web, Message::text("Hallo"));
    desk.create_ticket(&Actor::System, input)
        .await
        .unwrap()
        .ticket
        .number
        .to_string()
}

/// The ids of the posts the receiver took, in order.
fn taken(r: &Arc<Mutex<Receiver>>, path_body: &str) -> Vec<String> {
    let r = r.lock().unwrap();
    r.posts
        .iter()
        .filter(|p| p.3 && p.1.contains(path_body))
        .map(|p| p.0.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_once_in_order_signed_and_resume_after_a_restart() {
    let (base, received) = receiver().await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap());
    let store = Arc::new(MemoryStore::new());
    let desk = Arc::new(Desk::new(store.clone()).with_clock(Arc::new(clock.clone())));
    desk.configure(config(&base, true)).await.unwrap();
    let first = ticket(&desk, "Erstes").await;
    let second = ticket(&desk, "Zweites").await;

    // The receiver fails twice: each failure waits its backoff, then all goes through.
    received.lock().unwrap().fail = 2;
    let hooks = Webhooks::new(desk.clone()).unwrap();
    let report = hooks.round().await.unwrap();
    assert_eq!(
        (report.delivered, report.failed),
        (2, 1),
        "the chat hook is not held up"
    );
    let report = hooks.round().await.unwrap();
    assert_eq!((report.delivered, report.failed), (0, 0), "{report:?}");
    clock.advance(Duration::minutes(1));
    let report = hooks.round().await.unwrap();
    assert_eq!(report.failed, 1, "the second failure");
    let status = &hooks.statuses().await.unwrap()[0];
    assert_eq!(status.state.failures, 2);
    assert!(status.state.last_error.as_deref().unwrap().contains("500"));
    let report = hooks.round().await.unwrap();
    assert_eq!(report.delivered, 0, "not before its backoff");
    clock.advance(Duration::minutes(1));
    let report = hooks.round().await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    let ids: Vec<String> = taken(&received, "ticket.NewTicket");
    assert_eq!(ids.len(), 2, "each event once after it was taken: {ids:?}");
    let seqs: Vec<u64> = ids.iter().map(|i| i[4..].parse().unwrap()).collect();
    assert!(seqs[0] < seqs[1], "in log order");
    {
        let r = received.lock().unwrap();
        assert!(r.posts.iter().all(|p| p.2), "every signature checks");
        let bodies: Vec<&str> = r
            .posts
            .iter()
            .filter(|p| p.3)
            .map(|p| p.1.as_str())
            .collect();
        assert!(
            bodies.iter().any(|b| b.contains(&first)) && bodies.iter().any(|b| b.contains(&second))
        );
        let chat: Vec<&&str> = bodies
            .iter()
            .filter(|b| b.starts_with("{\"text\""))
            .collect();
        assert_eq!(chat.len(), 2, "{chat:?}");
        assert!(
            chat[0].contains(&format!("NewTicket: [{first}] Erstes")),
            "{chat:?}"
        );
        // Only the events asked for: no WebRequestCustomer, no SendAgentNotification.
        assert!(
            r.posts
                .iter()
                .all(|p| !p.1.contains("ticket.WebRequestCustomer"))
        );
    }

    // Restarted: nothing again; what is new, once.
    let restarted = Webhooks::new(desk.clone()).unwrap();
    assert_eq!(restarted.round().await.unwrap().delivered, 0);
    let id = desk.find(&Actor::System, &first).await.unwrap().id;
    desk.note(&Actor::System, id, Message::text("intern"), false, &[])
        .await
        .unwrap();
    assert_eq!(restarted.round().await.unwrap().delivered, 1);
    assert_eq!(restarted.round().await.unwrap().delivered, 0);
    assert_eq!(taken(&received, "ticket.AddNote").len(), 1);

    // A receiver that keeps failing is paused and reported; resumed, it goes on.
    received.lock().unwrap().fail = usize::MAX;
    ticket(&desk, "Drittes").await;
    let mut notices = Vec::new();
    for _ in 0..MAX_FAILURES + 2 {
        let report = restarted.round().await.unwrap();
        notices.extend(report.notices);
        clock.advance(Duration::minutes(15));
    }
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("paused"), "{notices:?}");
    let status = &restarted.statuses().await.unwrap()[0];
    assert!(
        status.state.paused && status.state.failures == MAX_FAILURES,
        "{status:?}"
    );
    received.lock().unwrap().fail = 0;
    assert_eq!(
        restarted.round().await.unwrap().delivered,
        0,
        "paused stays paused"
    );
    restarted.resume("tickets").await.unwrap();
    assert_eq!(restarted.round().await.unwrap().delivered, 1);

    // 410 Gone disables the hook.
    received.lock().unwrap().gone = true;
    ticket(&desk, "Viertes").await;
    let report = restarted.round().await.unwrap();
    assert!(
        report.notices.iter().any(|n| n.contains("410")),
        "{report:?}"
    );
    let status = &restarted.statuses().await.unwrap()[0];
    assert!(status.state.disabled);
    assert!(restarted.resume("nobody").await.is_err());
}

#[test]
fn bad_webhook_configurations_are_refused() {
    for (field, message) in [
        ("url = \"ftp://x\"", "not http(s)"),
        ("secret = \"geheim\"", "whsec_"),
        ("secret = \"whsec_c2hvcnQ=\"", "whsec_"),
        ("queues = [\"Nowhere\"]", "unknown queue"),
        ("events = [\"Explosion\"]", "unknown event type"),
    ] {
        let mut toml = format!(
            "[[groups]]\nname = \"g\"\n[[queues]]\nname = \"Q\"\ngroup = \"g\"\n[[webhooks]]\nname = \"w\"\n{field}\n"
        );
        for (key, value) in [
            ("url", "\"https://example.org/hook\""),
            ("secret", &format!("\"{SECRET}\"")),
        ] {
            if !field.starts_with(key) {
                toml.push_str(&format!("{key} = {value}\n"));
            }
        }
        let refused = Config::from_toml(&toml).expect_err(field).to_string();
        assert!(refused.contains(message), "{field}: {refused}");
    }
}
