//! The HTML pages at the HTTP level, on the demo desk in memory: sign-in and sessions, every
//! page and form, and every refusal, hostile input included (forged and cross-site forms,
//! bad UTF-8, oversized forms, scripts in subjects and bodies, guessed numbers and hashes,
//! path tricks).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use ticketcore::{Actor, Desk, FaqState, MemoryStore, Store, TicketQuery};
use ticketcore_app::demo;
use ticketcore_web::{App, MAX_BODY, router};
use tower::ServiceExt;

const HOST: &str = "desk.example";

async fn demo_app() -> (Router, Arc<Desk>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (desk, _) = demo::make(store).await.expect("demo desk");
    (router(App::new(desk.clone())), desk)
}

/// What a page answered.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    /// The value of the first hidden field `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name}"))
            + marker.len();
        let raw = self.body[at..].split('"').next().unwrap();
        raw.replace("&#x2f;", "/")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    }
}

async fn send(router: &Router, request: Request<Body>) -> Page {
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        // Templates write "/" in attributes as "&#x2f;"; browsers read it as "/".
        body: String::from_utf8_lossy(&bytes).replace("&#x2f;", "/"),
    }
}

/// A browser: its session cookie, if signed in, and its language.
#[derive(Clone, Default)]
struct Browser {
    cookie: Option<String>,
    lang: Option<&'static str>,
}

impl Browser {
    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, HOST);
        if let Some(c) = &self.cookie {
            r = r.header(header::COOKIE, c);
        }
        if let Some(l) = self.lang {
            r = r.header(header::ACCEPT_LANGUAGE, l);
        }
        r
    }

    async fn get(&self, router: &Router, path: &str) -> Page {
        send(
            router,
            self.request("GET", path).body(Body::empty()).unwrap(),
        )
        .await
    }

    async fn post(&self, router: &Router, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post_raw(router, path, body.into_bytes(), &[]).await
    }

    async fn post_raw(
        &self,
        router: &Router,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut r = self.request("POST", path);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            r = r.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        send(router, r.body(Body::from(body)).unwrap()).await
    }

    /// The CSRF token the pages give this session.
    async fn csrf(&self, router: &Router) -> String {
        self.get(router, "/faq").await.field("csrf")
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

async fn sign_in(router: &Router, login: &str, password: &str) -> Browser {
    let page = Browser::default()
        .post(
            router,
            "/sign-in",
            &[("login", login), ("password", password), ("next", "/")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let set = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    Browser {
        cookie: Some(set.split(';').next().unwrap().to_string()),
        lang: None,
    }
}

/// A ticket of kunde1 that anna may work on and nobody holds.
async fn open_ticket(desk: &Desk) -> String {
    let query = TicketQuery {
        limit: 100,
        ..TicketQuery::default()
    };
    let page = desk.queue_view(&Actor::agent("anna"), query).await.unwrap();
    page.tickets
        .iter()
        .find(|t| {
            t.customer.as_deref() == Some("kunde1")
                && !t.state_type.is_closed()
                && t.lock.holder().is_none()
        })
        .expect("an open ticket of kunde1")
        .number
        .to_string()
}

#[tokio::test]
async fn sign_in_sessions_and_who_sees_which_page() {
    let (router, _) = demo_app().await;
    let anonymous = Browser::default();
    // Not signed in: the pages send to the sign-in page and come back.
    for path in [
        "/desk",
        "/stats",
        "/notifications",
        "/portal",
        "/portal/new",
    ] {
        let page = anonymous.get(&router, path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location().starts_with("/sign-in?next="), "{path}");
    }
    assert_eq!(anonymous.get(&router, "/").await.location(), "/sign-in");
    let form = anonymous
        .get(&router, "/sign-in?next=//evil.example/")
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.field("next"), "/", "never a redirect off the site");

    // A wrong password: the form again, with the reason, the login kept.
    let wrong = anonymous
        .post(
            &router,
            "/sign-in",
            &[("login", "anna"), ("password", "wrong one")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("class=\"error\""), "{}", wrong.body);
    assert!(wrong.body.contains("value=\"anna\""));

    // Signed in: each to their own place; a new sign-in replaces the session.
    let anna = sign_in(&router, "anna", "demo-anna-2026").await;
    assert_eq!(anna.get(&router, "/").await.location(), "/desk");
    let desk = anna.get(&router, "/desk").await;
    assert_eq!(desk.status, StatusCode::OK, "{}", desk.body);
    assert!(desk.body.contains("Allgemein"));
    let again = anna
        .post_raw(
            &router,
            "/sign-in",
            b"login=anna&password=demo-anna-2026".to_vec(),
            &[],
        )
        .await;
    let rotated = again.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        !rotated.contains(anna.cookie.as_deref().unwrap()),
        "rotated at sign-in"
    );
    assert_eq!(
        anna.get(&router, "/desk").await.status,
        StatusCode::SEE_OTHER,
        "the old session ended"
    );
    let anna = sign_in(&router, "anna", "demo-anna-2026").await;
    let kunde = sign_in(&router, "kunde1", "demo-kunde1-2026").await;
    assert_eq!(kunde.get(&router, "/").await.location(), "/portal");
    assert_eq!(
        kunde.get(&router, "/desk").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        kunde.get(&router, "/stats").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anna.get(&router, "/portal").await.status,
        StatusCode::FORBIDDEN
    );
    let portal = kunde.get(&router, "/portal").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("My requests"));

    // Sign-out needs the form's token, and ends the session.
    let forged = anna.post(&router, "/sign-out", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = anna.csrf(&router).await;
    let out = anna.post(&router, "/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/sign-in");
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        anna.get(&router, "/desk").await.status,
        StatusCode::SEE_OTHER
    );

    // Pages speak the browser's language, or the one chosen.
    let german = Browser {
        lang: Some("de-DE,de;q=0.9,en;q=0.5"),
        ..Browser::default()
    };
    assert!(
        german
            .get(&router, "/sign-in")
            .await
            .body
            .contains("Anmelden")
    );
    let chosen = german.get(&router, "/lang/en").await;
    assert!(
        chosen.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("tc_lang=en")
    );
    let english = Browser {
        cookie: Some("tc_lang=en".into()),
        lang: Some("de"),
    };
    assert!(
        english
            .get(&router, "/sign-in")
            .await
            .body
            .contains("Sign in")
    );
    assert_eq!(
        german.get(&router, "/lang/xx").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn ticket_forms_act_through_the_desk_and_refusals_show_on_the_page() {
    let (router, desk) = demo_app().await;
    let anna = sign_in(&router, "anna", "demo-anna-2026").await;
    let number = open_ticket(&desk).await;
    let path = format!("/tickets/{number}");
    let page = anna.get(&router, &path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.field("csrf");
    let version = page.field("version");

    // Lock: back to the ticket, locked by anna.
    let lock = anna
        .post(
            &router,
            &format!("{path}/lock"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(lock.status, StatusCode::SEE_OTHER, "{}", lock.body);
    assert_eq!(lock.location(), format!("{path}?done=lock"));
    let page = anna.get(&router, &format!("{path}?done=lock")).await;
    assert!(page.body.contains("locked by me"));
    assert!(page.body.contains("the ticket is yours"));
    let version = page.field("version");

    // A page loaded before a change is stale: refused, what was typed kept.
    let stale = anna
        .post(
            &router,
            &format!("{path}/notes"),
            &[
                ("csrf", &csrf),
                ("version", "1"),
                ("text", "typed before the change"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("changed since this page was loaded"));
    assert!(
        stale.body.contains("typed before the change"),
        "the draft is kept"
    );

    // A note naming bernd, a reply, state, priority, watch, a one-click action.
    let act = |action: &'static str, extra: Vec<(&'static str, String)>| {
        let anna = anna.clone();
        let router = router.clone();
        let path = path.clone();
        let csrf = csrf.clone();
        async move {
            let version = anna.get(&router, &path).await.field("version");
            let mut form: Vec<(&str, String)> = vec![("csrf", csrf), ("version", version)];
            form.extend(extra);
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            anna.post(&router, &format!("{path}/{action}"), &pairs)
                .await
        }
    };
    let _ = version;
    for (action, extra) in [
        (
            "notes",
            vec![
                (
                    "text",
                    "Internal: bernd, please check the invoice.".to_string(),
                ),
                ("notify", "bernd".to_string()),
            ],
        ),
        ("replies", vec![("text", "We are on it.".to_string())]),
        ("priority", vec![("priority", "4".to_string())]),
        ("watch", vec![("watch", "true".to_string())]),
        (
            "state",
            vec![
                ("state", "pending reminder".to_string()),
                ("pending_until", "2030-01-02T09:30".to_string()),
            ],
        ),
    ] {
        let done = act(action, extra).await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "{action}: {}",
            done.body
        );
    }
    let page = anna.get(&router, &path).await;
    assert!(page.body.contains("pending reminder"));
    assert!(
        page.body.contains("2030-01-02 09:30"),
        "read in the desk's time zone"
    );
    assert!(
        page.body.contains("class=\"article internal"),
        "internal notes are marked"
    );
    assert!(page.body.contains("Stop watching"));
    let done = act("macro", vec![("name", "close-as-done".to_string())]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(
        anna.get(&router, &path)
            .await
            .body
            .contains("closed successful")
    );

    // Refusals are messages on the ticket page.
    let bad = act("priority", vec![("priority", "9".to_string())]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("class=\"error\""));
    let missing = act("move", vec![]).await;
    assert!(missing.body.contains("move needs"), "{}", missing.body);
    let unknown = act("explode", vec![]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad_time = act(
        "state",
        vec![
            ("state", "pending reminder".to_string()),
            ("pending_until", "soon".to_string()),
        ],
    )
    .await;
    assert_eq!(bad_time.status, StatusCode::BAD_REQUEST);

    // Someone else's lock: 423 with the reason on the page.
    let other = open_ticket(&desk).await;
    let id = desk.find(&Actor::System, &other).await.unwrap().id;
    let mut config = (*desk.config().await.unwrap()).clone();
    let mut carl = config
        .agents
        .iter()
        .find(|a| a.login == "anna")
        .unwrap()
        .clone();
    carl.login = "carl".into();
    config.agents.push(carl);
    desk.configure(config).await.unwrap();
    desk.lock(&Actor::agent("carl"), id).await.unwrap();
    let other_path = format!("/tickets/{other}");
    let v = anna.get(&router, &other_path).await.field("version");
    let refused = anna
        .post(
            &router,
            &format!("{other_path}/replies"),
            &[("csrf", &csrf), ("version", &v), ("text", "my answer")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::LOCKED, "{}", refused.body);
    assert!(refused.body.contains("carl"));
    assert!(
        refused.body.contains("my answer"),
        "the answer typed is kept"
    );

    // Bulk: lock both; the one carl holds is refused and named.
    let bulk = anna
        .post(
            &router,
            "/desk/bulk",
            &[
                ("csrf", &csrf),
                ("action", "priority"),
                ("priority", "2"),
                ("tickets", &other),
                ("tickets", &number),
            ],
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.body);
    assert!(bulk.body.contains("Done: 1"), "{}", bulk.body);
    assert!(bulk.body.contains(&format!("href=\"/tickets/{other}\"")));
    let none = anna
        .post(
            &router,
            "/desk/bulk",
            &[("csrf", &csrf), ("action", "lock")],
        )
        .await;
    assert!(none.body.contains("Select at least one ticket"));

    // Notifications: bernd's note shows in bernd's list; marked read, it is no longer new.
    desk.set_password(&Actor::System, &Actor::agent("bernd"), "demo-bernd-2026")
        .await
        .unwrap();
    let bernd = sign_in(&router, "bernd", "demo-bernd-2026").await;
    let list = bernd.get(&router, "/notifications").await;
    assert_eq!(list.status, StatusCode::OK);
    if list.body.contains(&number) {
        assert!(list.body.contains("class=\"unread\""));
        let csrf = list.field("csrf");
        let last = list.field("last");
        let read = bernd
            .post(
                &router,
                "/notifications/read",
                &[("csrf", &csrf), ("last", &last)],
            )
            .await;
        assert_eq!(read.status, StatusCode::SEE_OTHER);
        assert!(
            !bernd
                .get(&router, "/notifications")
                .await
                .body
                .contains("class=\"unread\"")
        );
    }
    let annas = anna.get(&router, "/notifications").await;
    assert_eq!(annas.status, StatusCode::OK);

    // Search and statistics.
    let found = anna.get(&router, "/search?q=invoice").await;
    assert!(found.body.contains(&number), "{}", found.body);
    assert!(
        anna.get(&router, "/search?q=created:%3Esoon")
            .await
            .body
            .contains("class=\"error\"")
    );
    let stats = anna.get(&router, "/stats?days=7").await;
    assert_eq!(stats.status, StatusCode::OK);
    assert!(stats.body.matches("<svg").count() >= 4);
}

#[tokio::test]
async fn the_customer_writes_and_sees_only_their_share() {
    let (router, desk) = demo_app().await;
    let kunde = sign_in(&router, "kunde1", "demo-kunde1-2026").await;
    let form = kunde.get(&router, "/portal/new").await;
    let csrf = form.field("csrf");
    // A new request from the web, with a script in title and body and a file attached.
    let boundary = "XyZ";
    let mut body = Vec::new();
    for (name, value) in [
        ("csrf", csrf.as_str()),
        ("title", "<script>alert('title')</script> Drucker"),
        ("text", "<img src=x onerror=alert(1)> bitte helfen"),
    ] {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"../../etc/passwd\"\r\nContent-Type: text/html\r\n\r\n<script>alert(2)</script>\r\n--{boundary}--\r\n").as_bytes());
    let created = kunde
        .post_raw(
            &router,
            "/portal/new",
            body,
            &[("content-type", "multipart/form-data; boundary=XyZ")],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let ticket_path = created.location().split('?').next().unwrap().to_string();
    let page = kunde.get(&router, &ticket_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        !page.body.contains("<script>alert"),
        "scripts are shown as text"
    );
    assert!(!page.body.contains("<img src=x"));
    assert!(page.body.contains("&lt;script&gt;alert("));
    // The attachment: a download, its name without the path, never sniffed.
    let at = page.body.find("/attachments/").expect("an attachment link");
    let link = &page.body[page.body[..at].rfind('"').unwrap() + 1..];
    let link = link.split('"').next().unwrap();
    let file = kunde.get(&router, link).await;
    assert_eq!(file.status, StatusCode::OK);
    let disposition = file.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment;") && !disposition.contains('/'),
        "{disposition}"
    );
    assert_eq!(file.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // Guessed hashes and other people's tickets: not found, as for none.
    let guessed = link.rsplit_once('/').unwrap().0.to_string() + "/" + &"0".repeat(64);
    assert_eq!(
        kunde.get(&router, &guessed).await.status,
        StatusCode::NOT_FOUND
    );
    let all = desk
        .queue_view(
            &Actor::System,
            TicketQuery {
                limit: 100,
                ..TicketQuery::default()
            },
        )
        .await
        .unwrap();
    let foreign = all
        .tickets
        .iter()
        .find(|t| t.customer.as_deref() != Some("kunde1"))
        .unwrap();
    let theirs = kunde
        .get(&router, &format!("/tickets/{}", foreign.number))
        .await;
    let nobody = kunde.get(&router, "/tickets/1999010110000017").await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(
        theirs.body.replace(&foreign.number.to_string(), ""),
        nobody.body.replace("1999010110000017", "")
    );

    // The customer answers on the ticket; agents' notes never show.
    let number = ticket_path.trim_start_matches("/tickets/").to_string();
    let id = desk.find(&Actor::System, &number).await.unwrap().id;
    desk.note(
        &Actor::agent("anna"),
        id,
        ticketcore::Message::text("secret internal remark"),
        false,
        &[],
    )
    .await
    .unwrap();
    let version = kunde.get(&router, &ticket_path).await.field("version");
    let reply = kunde
        .post(
            &router,
            &format!("{ticket_path}/replies"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("text", "Any news?"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = kunde.get(&router, &ticket_path).await;
    assert!(page.body.contains("Any news?"));
    assert!(!page.body.contains("secret internal remark"));
    assert!(
        !page.body.contains("Split off"),
        "agents' actions are not offered"
    );
    let lock = kunde
        .post(&router, &format!("{ticket_path}/lock"), &[("csrf", &csrf)])
        .await;
    assert!(lock.status.is_client_error(), "a customer cannot lock");
    let empty = kunde
        .post(
            &router,
            "/portal/new",
            &[("csrf", &csrf), ("title", ""), ("text", "")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn hostile_requests_are_refused_and_lose_nothing() {
    let (router, desk) = demo_app().await;
    let anna = sign_in(&router, "anna", "demo-anna-2026").await;
    let number = open_ticket(&desk).await;
    let path = format!("/tickets/{number}");
    let csrf = anna.get(&router, &path).await.field("csrf");
    let before = desk
        .history(
            &Actor::System,
            desk.find(&Actor::System, &number).await.unwrap().id,
        )
        .await
        .unwrap()
        .len();

    // Forged and missing tokens; a post from another site even with the right token.
    for form in [
        vec![("text", "x")],
        vec![("csrf", "0".repeat(48).leak() as &str), ("text", "x")],
    ] {
        let page = anna.post(&router, &format!("{path}/notes"), &form).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
    }
    let cross = anna
        .post_raw(
            &router,
            &format!("{path}/notes"),
            format!("csrf={csrf}&text=x").into_bytes(),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let fetch_site = anna
        .post_raw(
            &router,
            "/sign-in",
            b"login=anna&password=demo-anna-2026".to_vec(),
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(
        fetch_site.status,
        StatusCode::FORBIDDEN,
        "no sign-in forced from elsewhere"
    );
    // Bad UTF-8, in a value and in raw bytes.
    let bad = anna
        .post_raw(
            &router,
            &format!("{path}/notes"),
            format!("csrf={csrf}&text=%FF%FE").into_bytes(),
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let raw = anna
        .post_raw(
            &router,
            &format!("{path}/notes"),
            [
                b"csrf=".to_vec(),
                csrf.clone().into_bytes(),
                b"&text=\xff\xfe".to_vec(),
            ]
            .concat(),
            &[],
        )
        .await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    // An oversized form: 413.
    let huge = format!("csrf={csrf}&text={}", "a".repeat(MAX_BODY + 1));
    let page = anna
        .post_raw(&router, &format!("{path}/notes"), huge.into_bytes(), &[])
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A form of another type.
    let json = send(
        &router,
        anna.request("POST", &format!("{path}/notes"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nothing of it reached the ticket.
    let after = desk
        .history(
            &Actor::System,
            desk.find(&Actor::System, &number).await.unwrap().id,
        )
        .await
        .unwrap()
        .len();
    assert_eq!(before, after);

    // Path tricks on the site's own files, and API tokens on pages.
    for trick in [
        "/static/../Cargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/desk.css%00.js",
        "/static/..%5cCargo.toml",
    ] {
        assert_eq!(
            anna.get(&router, trick).await.status,
            StatusCode::NOT_FOUND,
            "{trick}"
        );
    }
    let css = anna.get(&router, "/static/desk.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let bearer = send(
        &router,
        Request::get("/desk")
            .header(header::AUTHORIZATION, "Bearer tct_x")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_public_faq_shows_public_entries_only() {
    let (router, desk) = demo_app().await;
    let anonymous = Browser::default();
    let index = anonymous.get(&router, "/faq").await;
    assert_eq!(index.status, StatusCode::OK);
    let all = desk
        .faq_list(Some(&Actor::System), None, None, 50)
        .await
        .unwrap();
    for found in &all.hits {
        let entry = &found.entry;
        let page = anonymous
            .get(&router, &format!("/faq/{}", entry.number))
            .await;
        let listed = index
            .body
            .contains(&format!("href=\"/faq/{}\"", entry.number));
        if entry.state == FaqState::Public {
            assert_eq!(page.status, StatusCode::OK);
            assert!(listed);
        } else {
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", entry.title);
            assert!(!listed, "{} is listed", entry.title);
        }
    }
    let anna = sign_in(&router, "anna", "demo-anna-2026").await;
    for found in all
        .hits
        .iter()
        .filter(|f| f.entry.state == FaqState::Internal)
    {
        let may = desk
            .faq_entry(Some(&Actor::agent("anna")), found.entry.number)
            .await
            .is_ok();
        let status = anna
            .get(&router, &format!("/faq/{}", found.entry.number))
            .await
            .status;
        assert_eq!(
            status == StatusCode::OK,
            may,
            "agents read internal entries of their categories"
        );
    }
    let search = anonymous.get(&router, "/faq?q=Beitrag").await;
    assert_eq!(search.status, StatusCode::OK);
    for path in ["/faq/abc", "/faq/99999", "/faq/1/attachments/00"] {
        assert_eq!(
            anonymous.get(&router, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}
