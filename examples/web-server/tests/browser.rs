//! The desk in a real browser: headless Chromium driven through chromedriver (fantoccini).
//! An agent signs in, locks a ticket, answers, adds an internal note and sees a colleague's
//! lock arrive live; the customer signs in and sees the answer but not the note. Screenshots
//! of the dashboard, the ticket and the portal, at desktop and phone width, are saved in
//! `target/screenshots/` for a person to look at.
//!
//! Needs `TICKETCORE_TEST_CHROMEDRIVER` (the chromedriver binary; `.ci/run` installs Debian's
//! chromium and chromium-driver and sets it); without it the test says it skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use ticketcore::{Actor, Desk, MemoryStore, Store, TicketQuery};
use ticketcore_app::demo;
use ticketcore_web::{App, router};

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

mod support;

use support::{Running, free_port};

async fn start_driver(binary: &str, home: &Path) -> (Running, String) {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .env("HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Running(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, format!("http://127.0.0.1:{port}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on port {port}");
}

async fn browser(webdriver: &str, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--lang=en-US",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a Chromium session")
}

/// Serves the demo desk on a free port; returns its URL and the desk.
async fn serve() -> (String, Arc<Desk>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (desk, _) = demo::make(store).await.expect("demo desk");
    // A colleague of anna's, with the same permissions, to lock a ticket from elsewhere.
    let mut config = (*desk.config().await.unwrap()).clone();
    let mut carl = config
        .agents
        .iter()
        .find(|a| a.login == "anna")
        .unwrap()
        .clone();
    carl.login = "carl".into();
    carl.name = "Carl Kollege".into();
    carl.email = "carl@example.org".into();
    config.agents.push(carl);
    desk.configure(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(App::new(desk.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, desk)
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(client: &Client, name: &str) {
    for (size, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        client.set_window_size(w, h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The whole page (up to a point), so a person sees all of it.
        let full = client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(u64::from(h));
        let tall = u32::try_from(full.clamp(u64::from(h), 2400)).unwrap_or(h);
        client.set_window_size(w, tall).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = client.screenshot().await.unwrap();
        std::fs::write(shots().join(format!("{name}-{size}.png")), png).unwrap();
    }
    client.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
}

async fn sign_in(client: &Client, base: &str, login: &str, password: &str) {
    client.goto(&format!("{base}/sign-in")).await.unwrap();
    client
        .find(Locator::Css("input[name=login]"))
        .await
        .unwrap()
        .send_keys(login)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Css("form[action='/sign-in'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(client, ".me").await;
}

/// Waits until the page's text contains `needle`.
async fn see(client: &Client, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        // Mid-navigation the document may be gone: that is "not yet".
        let text = client
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never showed {needle:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The element `css` finds, once the page has it (at most 10 s).
async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

async fn click(client: &Client, css: &str) {
    wait_for(client, css).await.click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_customer_in_chromium() {
    let Ok(chromedriver) = std::env::var("TICKETCORE_TEST_CHROMEDRIVER") else {
        // Straight to stderr: the test harness would swallow eprintln! of a passing test.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED browser test (headless Chromium): set TICKETCORE_TEST_CHROMEDRIVER to chromedriver's path (scripts/test-browser.sh)"
        );
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let (_driver, webdriver) = start_driver(&chromedriver, home.path()).await;
    let (base, desk) = serve().await;
    let client = browser(&webdriver, &home.path().join("profile")).await;

    // The customer's open tickets that nobody holds: the agent works on one, a colleague
    // locks another while the agent watches.
    let anna = Actor::agent("anna");
    let query = TicketQuery {
        limit: 100,
        ..TicketQuery::default()
    };
    let hers = desk.queue_view(&anna, query).await.unwrap();
    let mut free = hers.tickets.iter().filter(|t| {
        t.customer.as_deref() == Some("kunde1")
            && !t.state_type.is_closed()
            && t.lock.holder().is_none()
    });
    let ticket = free
        .next()
        .expect("an open ticket of kunde1")
        .number
        .to_string();
    let other = free.next().expect("a second one").clone();

    // The agent: dashboard, the ticket, lock, answer, note.
    sign_in(&client, &base, "anna", "demo-anna-2026").await;
    see(&client, "To do").await;
    shoot(&client, "dashboard").await;
    client
        .goto(&format!("{base}/tickets/{ticket}"))
        .await
        .unwrap();
    click(
        &client,
        &format!("form[action='/tickets/{ticket}/lock'] button"),
    )
    .await;
    see(&client, "locked by me").await;
    let reply = "Thank you, the new printer toner is on its way.";
    click(&client, "#reply-panel summary").await;
    client
        .find(Locator::Css("#reply-text"))
        .await
        .unwrap()
        .send_keys(reply)
        .await
        .unwrap();
    click(
        &client,
        &format!("form[action='/tickets/{ticket}/replies'] button"),
    )
    .await;
    see(&client, "Sent.").await;
    let note = "Internal: toner ordered from the cheaper supplier.";
    click(&client, "#note-panel summary").await;
    client
        .find(Locator::Css(&format!(
            "form[action='/tickets/{ticket}/notes'] textarea"
        )))
        .await
        .unwrap()
        .send_keys(note)
        .await
        .unwrap();
    click(
        &client,
        &format!("form[action='/tickets/{ticket}/notes'] button"),
    )
    .await;
    see(&client, "Note added.").await;
    see(&client, note).await;
    shoot(&client, "ticket").await;

    for (page, name) in [
        ("/stats", "stats"),
        ("/notifications", "notifications"),
        ("/search?q=drucker", "search"),
    ] {
        client.goto(&format!("{base}{page}")).await.unwrap();
        wait_for(&client, "main h1").await;
        shoot(&client, name).await;
    }

    // A colleague locks another ticket: the open page shows it without reloading.
    client
        .goto(&format!("{base}/tickets/{}", other.number))
        .await
        .unwrap();
    wait_for(&client, "body[data-following=yes]").await;
    let before = client.current_url().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    desk.lock(&Actor::agent("carl"), other.id).await.unwrap();
    see(&client, "🔒 carl").await;
    assert_eq!(client.current_url().await.unwrap(), before, "no navigation");

    // Sign out; the customer sees the answer, never the note.
    click(&client, "form[action='/sign-out'] button").await;
    wait_for(&client, "input[name=login]").await;
    sign_in(&client, &base, "kunde1", "demo-kunde1-2026").await;
    see(&client, "My requests").await;
    shoot(&client, "portal").await;
    client
        .goto(&format!("{base}/tickets/{ticket}"))
        .await
        .unwrap();
    see(&client, reply).await;
    let page = client.source().await.unwrap();
    assert!(!page.contains(note), "the customer sees the internal note");
    assert!(!page.contains("toner ordered"), "nor any part of it");
    shoot(&client, "portal-ticket").await;
    client.goto(&format!("{base}/portal/new")).await.unwrap();
    see(&client, "New request").await;
    shoot(&client, "portal-new").await;

    // The public FAQ, signed out (once the sign-out has landed on the sign-in page).
    click(&client, "form[action='/sign-out'] button").await;
    wait_for(&client, "input[name=login]").await;
    client.goto(&format!("{base}/faq")).await.unwrap();
    see(&client, "All categories").await;
    shoot(&client, "faq").await;
    click(&client, "ol.hits li a").await;
    wait_for(&client, "article.card h1").await;
    shoot(&client, "faq-entry").await;
    client.goto(&format!("{base}/sign-in")).await.unwrap();
    shoot(&client, "sign-in").await;
    client.close().await.unwrap();
}
