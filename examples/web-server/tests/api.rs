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
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");

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

#[tokio::test]
async fn actions_creation_attachments_and_events() {
    let (router, app) = demo_app().await;
    let (cookie, csrf) = sign_in(&router, "anna", "demo-anna-2026").await;
    let post = |path: &str, body: Value| {
        Request::post(path)
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let new = |title: &str| {
        post(
            "/api/tickets",
            json!({ "queue": "Allgemein", "title": title, "text": "Call back", "customer": "kunde1" }),
        )
    };
    let created = send(&router, new("Phone: <script>alert(1)</script>")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(
        created.json["ticket"]["title"],
        "Phone: <script>alert(1)</script>"
    );
    let number = created.json["ticket"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let path = |action: &str| format!("/api/tickets/{number}/{action}");
    for (action, body) in [
        ("lock", json!({})),
        (
            "notes",
            json!({ "text": "internal <b>note</b>", "notify": ["bernd"] }),
        ),
        ("replies", json!({ "text": "We call you back today." })),
        ("priority", json!({ "priority": 5 })),
        ("owner", json!({ "owner": "anna" })),
        ("watch", json!({})),
        (
            "state",
            json!({ "state": "pending reminder", "pending_until": "2030-01-02T09:00:00Z" }),
        ),
        ("move", json!({ "queue": "Vorstand" })),
        ("unlock", json!({})),
    ] {
        let answer = send(&router, post(&path(action), body)).await;
        assert_eq!(answer.status, StatusCode::OK, "{action}: {}", answer.json);
    }
    let zoom = read(&router, &cookie, &format!("/api/tickets/{number}")).await;
    let ticket = &zoom.json["ticket"];
    assert_eq!(
        (&ticket["queue"], &ticket["priority"]),
        (&json!("Vorstand"), &json!(5))
    );
    let types: Vec<&str> = zoom.json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for wanted in [
        "AddNote",
        "SendAnswer",
        "PriorityUpdate",
        "Subscribe",
        "Move",
        "Unlock",
    ] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    // Refusals: a missing field, an unknown field, a state that needs its time, a bad priority.
    for (action, body, code) in [
        ("notes", json!({}), "invalid"),
        ("notes", json!({ "text": "x", "colour": "red" }), "invalid"),
        ("state", json!({ "state": "pending reminder" }), "invalid"),
        ("priority", json!({ "priority": 9 }), "invalid"),
        ("move", json!({ "queue": "Nowhere" }), "not_found"),
    ] {
        let answer = send(&router, post(&path(action), body.clone())).await;
        assert_eq!(
            answer.json["code"], code,
            "{action} {body}: {}",
            answer.json
        );
    }
    // Links, split and merge between tickets.
    let other = send(&router, new("Second call")).await;
    let second = other.json["ticket"]["number"].as_str().unwrap().to_string();
    let linked = send(&router, post(&path("links"), json!({ "other": second }))).await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.json);
    let article = zoom.json["articles"][0]["id"].clone();
    let split = send(
        &router,
        post(
            &path("split"),
            json!({ "article": article, "title": "split off" }),
        ),
    )
    .await;
    assert_eq!(split.status, StatusCode::OK, "{}", split.json);
    let merged = send(
        &router,
        post(
            &format!("/api/tickets/{second}/merge"),
            json!({ "into": number }),
        ),
    )
    .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.json);
    assert_eq!(merged.json["ticket"]["state"], "merged", "{}", merged.json);

    // The customer sees the reply, not the note.
    let (customer, _) = sign_in(&router, "kunde1", "demo-kunde1-2026").await;
    let theirs = read(&router, &customer, &format!("/api/tickets/{number}")).await;
    let bodies: Vec<&str> = theirs.json["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["body"].as_str().unwrap())
        .collect();
    assert!(bodies.contains(&"We call you back today."), "{bodies:?}");
    assert!(!bodies.iter().any(|b| b.contains("internal")), "{bodies:?}");

    // Attachments are downloads, named safely; a guessed hash is not found.
    let mut message = ticketcore::Message::text("see the file");
    message.attachments.push(ticketcore::NewAttachment {
        name: "../../etc/\"passwd\".html".into(),
        content_type: "text/html".into(),
        inline: false,
        data: b"<script>alert(1)</script>".to_vec(),
    });
    let input = ticketcore::NewTicket::new("Allgemein", "file", ticketcore::Channel::Web, message);
    let with_file = app
        .desk
        .create_ticket(&Actor::customer("kunde1"), input)
        .await
        .unwrap()
        .ticket;
    let zoom = read(
        &router,
        &cookie,
        &format!("/api/tickets/{}", with_file.number),
    )
    .await;
    let hash = zoom.json["articles"][0]["attachments"][0]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let response = router
        .clone()
        .oneshot(
            get(&format!(
                "/api/tickets/{}/attachments/{hash}",
                with_file.number
            ))
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap();
    assert_eq!(disposition, "attachment; filename=\"_passwd_.html\"");
    assert_eq!(
        response.headers()[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff"
    );
    let guessed = read(
        &router,
        &cookie,
        &format!(
            "/api/tickets/{}/attachments/{}",
            with_file.number,
            "0".repeat(64)
        ),
    )
    .await;
    assert_problem(&guessed, StatusCode::NOT_FOUND, "not_found");
    let elsewhere = read(
        &router,
        &cookie,
        &format!("/api/tickets/{number}/attachments/{hash}"),
    )
    .await;
    assert_problem(&elsewhere, StatusCode::NOT_FOUND, "not_found");

    // Events: what the caller may see, from a position, as server-sent events.
    let response = router
        .clone()
        .oneshot(
            get("/api/events")
                .header(header::COOKIE, &customer)
                .header("last-event-id", "0")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut seen = String::new();
    while !seen.contains("event: SendAnswer") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("events arrive")
            .expect("a frame")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(seen.contains("id: "), "{seen}");
    assert!(
        !seen.contains("AddNote"),
        "a customer never hears of internal notes: {seen}"
    );
}

#[tokio::test]
async fn the_openapi_description_names_every_route() {
    let (router, _) = demo_app().await;
    let doc = send(
        &router,
        get("/api/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(
        doc.json["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc.json["openapi"]
    );
    let paths = doc.json["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/session", "post"),
        ("/api/session", "delete"),
        ("/api/tickets", "get"),
        ("/api/tickets", "post"),
        ("/api/tickets/{number}", "get"),
        ("/api/tickets/{number}/{action}", "post"),
        ("/api/tickets/{number}/attachments/{hash}", "get"),
        ("/api/search", "get"),
        ("/api/faq", "get"),
        ("/api/faq/{number}", "get"),
        ("/api/stats", "get"),
        ("/api/events", "get"),
    ] {
        assert!(
            paths.get(path).is_some_and(|p| p.get(method).is_some()),
            "{method} {path} in the description"
        );
    }
    assert!(doc.json["components"]["schemas"]["ProblemBody"].is_object());
}
