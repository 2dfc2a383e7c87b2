//! The JSON API at the HTTP level, on the demo desk in memory: sign-in and sessions, tokens,
//! the queue view with cursors, a ticket, locks with and without the CSRF token, search, the
//! public FAQ, statistics, and every refusal as JSON `{"code","message"}`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use ticketcore::{Actor, MemoryStore, Store};
use ticketcore_app::demo;
use ticketcore_web::{App, MAX_BODY, router};
use tower::ServiceExt;

async fn demo_app() -> (Router, App) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (desk, _) = demo::make(store).await.expect("demo desk");
    let app = App::new(desk);
    (router(app.clone()), app)
}

/// What a response said: status, `Set-Cookie`, JSON body (Null when empty).
struct Answer {
    status: StatusCode,
    cookie: Option<String>,
    headers: axum::http::HeaderMap,
    json: Value,
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let cookie = headers
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        cookie,
        headers,
        json,
    }
}

fn get(path: &str) -> axum::http::request::Builder {
    Request::get(path)
}

/// A GET on a session.
async fn read(router: &Router, cookie: &str, path: &str) -> Answer {
    send(
        router,
        get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// A signed-in session: its cookie header value and CSRF token.
async fn sign_in(router: &Router, login: &str, password: &str) -> (String, String) {
    let answer = send(
        router,
        Request::post("/api/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({ "login": login, "password": password }).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let set = answer.cookie.expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let pair = set.split(';').next().unwrap().to_string();
    (pair, answer.json["csrf"].as_str().unwrap().to_string())
}

fn assert_problem(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["code"], code, "{}", answer.json);
    assert!(
        answer.json["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn sessions_tokens_and_refusals() {
    let (router, app) = demo_app().await;
    // Neither cookie nor token: 401, as JSON, with the security headers.
    let answer = send(&router, get("/api/tickets").body(Body::empty()).unwrap()).await;
    assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(answer.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // A wrong password is one refusal for unknown logins and wrong passwords alike.
    for (login, password) in [("anna", "wrong-password"), ("nobody", "whatever-it-is")] {
        let answer = send(
            &router,
            Request::post("/api/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({ "login": login, "password": password }).to_string(),
                ))
                .unwrap(),
        )
        .await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (cookie, csrf) = sign_in(&router, "anna", "demo-anna-2026").await;
    let page = read(&router, &cookie, "/api/tickets?limit=5").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.json);
    assert_eq!(page.json["tickets"].as_array().unwrap().len(), 5);
    let next = page.json["cursor"].as_str().expect("a second page");
    let second = read(
        &router,
        &cookie,
        &format!("/api/tickets?limit=5&cursor={next}"),
    )
    .await;
    assert_ne!(second.json["tickets"][0], page.json["tickets"][0]);
    let forged = read(&router, &cookie, "/api/tickets?cursor=not-a-cursor").await;
    assert_problem(&forged, StatusCode::BAD_REQUEST, "invalid");

    // Changes on a session need its CSRF token.
    let number = page.json["tickets"][0]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let lock = |token: Option<&str>| {
        let mut request =
            Request::post(format!("/api/tickets/{number}/lock")).header(header::COOKIE, &cookie);
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_problem(
        &send(&router, lock(None)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &send(&router, lock(Some("forged"))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let locked = send(&router, lock(Some(&csrf))).await;
    assert_eq!(locked.status, StatusCode::OK, "{}", locked.json);
    assert!(
        locked.json["ticket"]
            .to_string()
            .contains("\"by\":\"anna\""),
        "{}",
        locked.json
    );

    // A ticket, and ones the caller may not know: 404 alike.
    let zoom = read(&router, &cookie, &format!("/api/tickets/{number}")).await;
    assert_eq!(zoom.status, StatusCode::OK);
    assert!(!zoom.json["articles"].as_array().unwrap().is_empty());
    assert!(!zoom.json["history"].as_array().unwrap().is_empty());
    for guess in ["2026010110000017", "0000", "../../etc/passwd", "%00"] {
        let answer = read(&router, &cookie, &format!("/api/tickets/{guess}")).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{guess}: {}",
            answer.json
        );
    }
    let (customer, _) = sign_in(&router, "kunde1", "demo-kunde1-2026").await;
    let theirs = read(&router, &customer, "/api/tickets?limit=200").await;
    let own: Vec<&str> = theirs.json["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap())
        .collect();
    let all = read(&router, &cookie, "/api/tickets?limit=200").await;
    let stranger = all.json["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap())
        .find(|n| !own.contains(n))
        .expect("a ticket of someone else");
    let answer = read(&router, &customer, &format!("/api/tickets/{stranger}")).await;
    assert_problem(&answer, StatusCode::NOT_FOUND, "not_found");

    // An API token stands for its owner; a wrong one is refused.
    let token = app
        .desk
        .create_token(&Actor::System, &Actor::agent("anna"), "script", None)
        .await
        .unwrap();
    let by_token = send(
        &router,
        get("/api/tickets?limit=1")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(by_token.status, StatusCode::OK, "{}", by_token.json);
    let wrong = send(
        &router,
        get("/api/tickets")
            .header(header::AUTHORIZATION, "Bearer tct_wrong")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "unauthorized");

    // Signing out ends the session; signing in again gives a new one.
    let out = send(
        &router,
        Request::delete("/api/session")
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let ended = read(&router, &cookie, "/api/tickets").await;
    assert_problem(&ended, StatusCode::UNAUTHORIZED, "unauthorized");
    let (again, _) = sign_in(&router, "anna", "demo-anna-2026").await;
    assert_ne!(again, cookie, "a new session id");
}

#[tokio::test]
async fn search_faq_stats_and_hostile_input() {
    let (router, _) = demo_app().await;
    let (cookie, csrf) = sign_in(&router, "anna", "demo-anna-2026").await;
    let found = read(&router, &cookie, "/api/search?q=printer").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.json);
    assert!(
        !found.json["hits"].as_array().unwrap().is_empty(),
        "{}",
        found.json
    );
    let bad = read(&router, &cookie, "/api/search?q=created:someday").await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "invalid");

    // The FAQ without sign-in: public entries only; an internal one is not found.
    let public = send(&router, get("/api/faq").body(Body::empty()).unwrap()).await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.json);
    let entries = public.json["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["state"] == "public"),
        "{}",
        public.json
    );
    let agent = read(&router, &cookie, "/api/faq").await;
    let internal = agent.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["state"] == "internal");
    // anna reads support's categories; the demo's internal entry is finance's.
    assert!(internal.is_none(), "{}", agent.json);
    for number in ["4", "999", "x"] {
        let answer = send(
            &router,
            get(&format!("/api/faq/{number}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let entry = send(&router, get("/api/faq/1").body(Body::empty()).unwrap()).await;
    assert_eq!(entry.status, StatusCode::OK, "{}", entry.json);
    let searched = send(
        &router,
        get("/api/faq?q=Beitr%C3%A4ge").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        searched.json["entries"].as_array().unwrap().len(),
        1,
        "{}",
        searched.json
    );

    // Statistics for agents; customers have none.
    let stats = read(&router, &cookie, "/api/stats?days=7").await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.json);
    assert!(
        stats.json["tickets"].as_u64().unwrap() > 0,
        "{}",
        stats.json
    );
    let (customer, _) = sign_in(&router, "kunde1", "demo-kunde1-2026").await;
    let refused = read(&router, &customer, "/api/stats").await;
    assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthorized");

    // Hostile input: an oversized body, bad UTF-8, malformed JSON, unknown paths and actions.
    let huge = send(
        &router,
        Request::post("/api/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b'x'; MAX_BODY + 1]))
            .unwrap(),
    )
    .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    for body in [&b"\xff\xfe{"[..], b"{\"login\":", b"[]"] {
        let answer = router
            .clone()
            .oneshot(
                Request::post("/api/session")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_vec()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(answer.status().is_client_error(), "{:?}", answer.status());
    }
    let unknown = send(&router, get("/api/nothing").body(Body::empty()).unwrap()).await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found");
    let page = read(&router, &cookie, "/api/tickets?limit=1").await;
    let number = page.json["tickets"][0]["number"].as_str().unwrap();
    let action = send(
        &router,
        Request::post(format!("/api/tickets/{number}/explode"))
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_problem(&action, StatusCode::NOT_FOUND, "not_found");
}
