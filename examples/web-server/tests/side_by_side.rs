//! Several processes on one desk: two `ticketcore-web` servers, `ticketctl serve-tick` and a
//! `ticketctl` command side by side on SQLite, and on PostgreSQL and MariaDB when their test
//! URLs are set. A session opened on one server works on the other, and a lock taken through
//! one arrives live in the event stream a page of the other follows.
//!
//! `ticketctl` is another package's binary: `cargo test --workspace` builds it; a test run
//! of this package alone without it says it skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

mod support;

use support::{Running, free_port};

fn skip(what: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED side-by-side test on {what}: {why}"
    );
}

fn ticketctl() -> Option<PathBuf> {
    let web = PathBuf::from(env!("CARGO_BIN_EXE_ticketcore-web"));
    let path = web.with_file_name(format!("ticketctl{}", std::env::consts::EXE_SUFFIX));
    path.exists().then_some(path)
}

type Http = Client<HttpConnector, Full<Bytes>>;

async fn call(
    http: &Http,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Vec<(String, String)>, Value) {
    let mut request = axum::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Full::new(Bytes::from(b.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = http.request(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, json)
}

async fn answering(http: &Http, base: &str, server: &mut Running) {
    for _ in 0..300 {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("the server at {base} exited: {status}");
        }
        let request = axum::http::Request::get(format!("{base}/api/faq"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        if let Ok(r) = http.request(request).await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server at {base} never answered");
}

fn web(store: &str) -> (Running, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_ticketcore-web"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--store", store])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ticketcore-web starts");
    (Running(child), format!("http://127.0.0.1:{port}"))
}

async fn side_by_side(ctl: &PathBuf, store: &str) {
    let made = Command::new(ctl)
        .args(["--store", store, "demo"])
        .output()
        .expect("ticketctl demo");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (mut a, base_a) = web(store);
    let (mut b, base_b) = web(store);
    let _tick = Running(
        Command::new(ctl)
            .args(["--store", store, "serve-tick", "--poll", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ticketctl serve-tick starts"),
    );
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    answering(&http, &base_a, &mut a).await;
    answering(&http, &base_b, &mut b).await;

    // Signed in on A: the same session works on B.
    let (status, headers, body) = call(
        &http,
        "POST",
        &format!("{base_a}/api/session"),
        &[],
        Some(json!({ "login": "anna", "password": "demo-anna-2026" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = body["csrf"].as_str().unwrap().to_string();
    let (status, _, page) = call(
        &http,
        "GET",
        &format!("{base_b}/api/tickets?limit=100"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(status, 200, "a session of A on B: {page}");
    let number = page["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| !t["lock"].to_string().contains("\"by\""))
        .expect("an unlocked ticket")["number"]
        .as_str()
        .unwrap()
        .to_string();

    // B's event stream, as a page on B follows it.
    let request = axum::http::Request::get(format!("{base_b}/api/events"))
        .header("cookie", &cookie)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let stream = http.request(request).await.unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut body = stream.into_body();
    // A lock through A.
    let (status, _, locked) = call(
        &http,
        "POST",
        &format!("{base_a}/api/tickets/{number}/lock"),
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{locked}");
    let mut seen = String::new();
    let arrived = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
                if seen.contains("event: Lock") && seen.contains(&number) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        arrived.is_ok(),
        "B never showed A's lock; it streamed:\n{seen}"
    );

    // ticketctl, beside the servers and serve-tick, sees the lock too.
    let shown = Command::new(ctl)
        .args(["--store", store, "show", &number])
        .output()
        .expect("ticketctl show");
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("locked by anna"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_serve_tick_and_ticketctl_on_sqlite() {
    let Some(ctl) = ticketctl() else {
        return skip(
            "SQLite",
            "ticketctl is not built (run cargo test --workspace)",
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("desk.sqlite").display());
    side_by_side(&ctl, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_serve_tick_and_ticketctl_on_postgres() {
    let Ok(url) = std::env::var("TICKETCORE_TEST_POSTGRES_URL") else {
        return skip("PostgreSQL", "TICKETCORE_TEST_POSTGRES_URL is not set");
    };
    let Some(ctl) = ticketctl() else {
        return skip(
            "PostgreSQL",
            "ticketctl is not built (run cargo test --workspace)",
        );
    };
    // A schema of its own, so earlier runs and other tests do not meet this desk.
    let schema = format!("side_by_side_{}", std::process::id());
    let psql = |sql: &str| {
        Command::new("psql")
            .args([
                url.as_str(),
                "-qtAc",
                &format!("SET client_min_messages = warning; {sql}"),
            ])
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )));
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    side_by_side(&ctl, &store).await;
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_serve_tick_and_ticketctl_on_mariadb() {
    let Ok(url) = std::env::var("TICKETCORE_TEST_MYSQL_URL") else {
        return skip("MariaDB", "TICKETCORE_TEST_MYSQL_URL is not set");
    };
    let Some(ctl) = ticketctl() else {
        return skip(
            "MariaDB",
            "ticketctl is not built (run cargo test --workspace)",
        );
    };
    let db = format!("side_by_side_{}", std::process::id());
    let mariadb = |sql: &str| {
        Command::new("mariadb")
            .args(["-h127.0.0.1", "-P3306", "-uroot", "-e", sql])
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(mariadb(&format!(
        "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"
    )));
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    side_by_side(&ctl, &format!("{base}/{db}")).await;
    mariadb(&format!("DROP DATABASE IF EXISTS {db}"));
}
