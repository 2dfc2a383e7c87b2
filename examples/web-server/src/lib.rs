//! # ticketcore-web
//!
//! The helpdesk in a browser, on axum: every request acts as its signed-in actor through the
//! [`Desk`], which decides what the actor may see and do. This first part is the JSON API
//! that scripts rely on and the pages will use: sign-in with a session cookie (or an API
//! token as `Authorization: Bearer`), the queue view, a ticket with its articles and history,
//! locks, search, the FAQ and statistics. Errors are JSON `{"code","message"}`.
//!
//! Security: sessions are the Desk's (random 256-bit secrets kept only as SHA-256 hashes in
//! the store, so every server process on a desk shares them); the cookie is
//! `HttpOnly; SameSite=Strict` (and `Secure` when served over TLS) and replaced at every
//! sign-in; a request that changes something on a session names the session's CSRF token
//! (`X-CSRF-Token`, or a form field); request bodies are limited; every response carries a
//! Content-Security-Policy and `nosniff`.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use ticketcore::Desk;

mod action;
mod agent;
mod api;
mod chart;
mod form;
mod knowledge;
pub mod page;
mod portal;
mod problem;
mod session;
mod signin;

pub use problem::Problem;

/// The largest request body accepted (a form with attachments); larger ones get 413.
pub const MAX_BODY: usize = 25 << 20;

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct App {
    /// The desk.
    pub desk: Arc<Desk>,
    /// Whether cookies carry `Secure` (served over TLS, directly or behind a proxy).
    pub secure_cookies: bool,
}

impl App {
    /// An app over `desk`, its cookies without `Secure`.
    pub fn new(desk: Arc<Desk>) -> App {
        App {
            desk,
            secure_cookies: false,
        }
    }
}

/// The server's routes.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(agent::home))
        .route("/sign-in", get(signin::form).post(signin::submit))
        .route("/sign-out", post(signin::sign_out))
        .route("/desk", get(agent::dashboard))
        .route("/desk/bulk", post(agent::bulk))
        .route("/tickets/{number}", get(agent::ticket))
        .route("/tickets/{number}/{action}", post(agent::act))
        .route("/search", get(agent::search))
        .route("/notifications", get(agent::notifications))
        .route("/notifications/read", post(agent::mark_read))
        .route("/stats", get(agent::stats))
        .route("/portal", get(portal::portal))
        .route("/portal/new", get(portal::new_form).post(portal::create))
        .route("/faq", get(knowledge::index))
        .route("/faq/{number}", get(knowledge::entry))
        .route(
            "/faq/{number}/attachments/{hash}",
            get(knowledge::attachment),
        )
        .route("/lang/{code}", get(page::choose_language))
        .route("/static/{name}", get(page::asset))
        .route("/api/session", post(api::sign_in).delete(api::sign_out))
        .route("/api/tickets", get(api::tickets).post(api::create))
        .route("/api/tickets/{number}", get(api::ticket))
        .route("/api/tickets/{number}/{action}", post(api::act))
        .route(
            "/api/tickets/{number}/attachments/{hash}",
            get(api::attachment),
        )
        .route("/api/events", get(api::events))
        .route("/api/search", get(api::search))
        .route("/api/faq", get(api::faq_list))
        .route("/api/faq/{number}", get(api::faq_entry))
        .route("/api/stats", get(api::stats))
        .route("/api/openapi.json", get(api::openapi))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn(page::html_refusals))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(app)
}

/// Refusals that axum's extractors answer in plain text (a body too large, malformed JSON or
/// query, a wrong method) as the API's JSON problems, so every error has a `code`.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let kind = response.headers().get(header::CONTENT_TYPE);
    let answered = kind.is_some_and(|v| {
        v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || answered {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = match status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        423 => "locked",
        429 => "too_many_requests",
        500.. => "conflict",
        _ => "invalid",
    };
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("refused").to_string(),
        text => text.to_string(),
    };
    axum::response::IntoResponse::into_response(Problem::new(status, code, message))
}

/// Headers every response carries: scripts, styles and frames only from this server, no
/// guessing of content types, no framing by other sites.
async fn secure_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
