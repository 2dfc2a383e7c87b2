//! A "contact us" form in a web application of its own that files tickets through the Desk,
//! and a page where the person sees their request's state from the link they were given.
//! Run: `cargo run -p ticketcore-contact-form -- sqlite:desk.sqlite 127.0.0.1:3000 SECRET`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use ticketcore::{Actor, Channel, Desk, Message, NewTicket};

/// The helpdesk, the key that signs status links (so only the person given one can open it)
/// and the queue requests land in.
#[derive(Debug, Clone)]
pub struct Site {
    pub desk: Arc<Desk>,
    pub secret: Arc<[u8]>,
    pub queue: String,
}

#[derive(Deserialize)]
struct Contact {
    name: String,
    email: String,
    subject: String,
    message: String,
}

type Page = (StatusCode, Html<String>);

fn page(status: StatusCode, body: &str) -> Page {
    let html = format!("<!doctype html><meta charset=utf-8><title>Contact</title><main>{body}");
    (status, Html(html))
}

/// A status link's signature for ticket `number`: HMAC-SHA-256, its first 128 bits in hex.
pub fn sign(secret: &[u8], number: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(number.as_bytes());
    let bytes = mac.finalize().into_bytes();
    Some(bytes[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// Text made safe to put into the page.
fn esc(text: &str) -> String {
    let text = text.replace('&', "&amp;").replace('<', "&lt;");
    text.replace('>', "&gt;").replace('"', "&quot;")
}

async fn form() -> Page {
    page(
        StatusCode::OK,
        r#"<h1>Contact us</h1><form method=post>
<p><label>Name <input name=name required></label>
<p><label>Email <input name=email type=email required></label>
<p><label>Subject <input name=subject required></label>
<p><label>Message <textarea name=message required></textarea></label>
<p><button>Send</button></form>"#,
    )
}

/// Files the request as a web ticket for the sender's address, then shows its status link.
async fn submit(State(site): State<Site>, Form(c): Form<Contact>) -> Page {
    if !c.email.contains('@') || c.subject.trim().is_empty() || c.message.trim().is_empty() {
        let body = "<p>Please give your email, a subject and a message.";
        return page(StatusCode::BAD_REQUEST, body);
    }
    let mut message = Message::text(c.message);
    message.from = format!("{} <{}>", c.name.trim(), c.email.trim());
    message.subject = c.subject.clone();
    let input = NewTicket::new(&site.queue, c.subject, Channel::Web, message);
    let input = input.for_customer(c.email.trim());
    match site.desk.create_ticket(&Actor::System, input).await {
        Ok(done) => {
            let number = done.ticket.number.to_string();
            let signature = sign(&site.secret, &number).unwrap_or_default();
            let link = format!("/status/{number}/{signature}");
            let body = format!(
                "<h1>Thank you</h1><p>Your request is number {number}. \
                 Its state: <a href=\"{link}\">{link}</a> (keep this link).",
            );
            page(StatusCode::OK, &body)
        }
        Err(e) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            &esc(&format!("Not filed: {e}")),
        ),
    }
}

/// The state of a ticket, for whoever holds its signed link (compared in constant time).
async fn status(State(site): State<Site>, Path((number, given)): Path<(String, String)>) -> Page {
    let expected = sign(&site.secret, &number).unwrap_or_default();
    let differ = expected
        .bytes()
        .zip(given.bytes())
        .fold(0, |d, (a, b)| d | (a ^ b));
    let found = match expected.len() == given.len() && differ == 0 {
        true => site.desk.find(&Actor::System, &number).await.ok(),
        false => None,
    };
    let Some(t) = found else {
        return page(StatusCode::NOT_FOUND, "<p>No such request.");
    };
    let changed = t.changed.format("%Y-%m-%d %H:%M UTC");
    let (title, state) = (esc(&t.title), esc(&t.state));
    let body = format!("<h1>{title}</h1><p>Request {number}: <b>{state}</b>, changed {changed}.");
    page(StatusCode::OK, &body)
}

/// The app's routes.
pub fn app(site: Site) -> Router {
    Router::new()
        .route("/", get(form).post(submit))
        .route("/status/{number}/{signature}", get(status))
        .with_state(site)
}
