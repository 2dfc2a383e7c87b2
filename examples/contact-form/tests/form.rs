//! The contact form files a ticket through the Desk and shows its state to whoever holds the
//! signed link; a forged link, a script in the form and a missing field are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use ticketcore::{Actor, MemoryStore};
use ticketcore_contact_form::{Site, app, sign};
use tower::ServiceExt;

async fn send(site: &Site, request: Request<Body>) -> (StatusCode, String) {
    let response = app(site.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn post(form: &str) -> Request<Body> {
    Request::post("/")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_request_is_filed_and_its_state_shown_by_the_signed_link() {
    let (desk, _) = ticketcore_app::demo::make(Arc::new(MemoryStore::new()))
        .await
        .unwrap();
    let site = Site {
        desk: desk.clone(),
        secret: Arc::from(&b"test secret"[..]),
        queue: "Allgemein".into(),
    };
    let (status, form) = send(&site, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("<form method=post>"));

    let (status, page) = send(
        &site,
        post("name=Olga&email=olga%40example.net&subject=%3Cscript%3Ex%3C%2Fscript%3E+Trikots&message=Wann+kommen+die+Trikots%3F"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let link = page
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let number = link.split('/').nth(2).unwrap().to_string();
    let ticket = desk.find(&Actor::System, &number).await.unwrap();
    assert_eq!(ticket.customer.as_deref(), Some("olga@example.net"));
    assert_eq!(ticket.queue, "Allgemein");

    let (status, shown) = send(&site, Request::get(&link).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.contains(&ticket.state), "{shown}");
    assert!(
        shown.contains("&lt;script&gt;") && !shown.contains("<script>"),
        "{shown}"
    );

    // Forged or foreign links learn nothing.
    let other = sign(b"another secret", &number).unwrap();
    for bad in [
        format!("/status/{number}/{other}"),
        format!("/status/{number}/00"),
        "/status/1/00".to_string(),
    ] {
        let (status, _) = send(&site, Request::get(&bad).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
    let (status, _) = send(&site, post("name=x&email=nobody&subject=&message=")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
