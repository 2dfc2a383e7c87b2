//! The JSON API's handlers: each one Desk call as the caller.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use ticketcore::finding::MAX_PAGE;
use ticketcore::stats::Period;
use ticketcore::{FaqFound, Found, Paging, StateType, TicketQuery};

use crate::session::{Caller, Reader, cookie, set_cookie};
use crate::{App, Problem};

/// A page position as the API hands it out: opaque, URL-safe.
fn cursor<T: serde::Serialize>(key: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// The page position a cursor names.
fn uncursor<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| Problem::invalid("the cursor is not one this server handed out"))
}

fn limit(limit: Option<usize>, default: usize) -> usize {
    limit.unwrap_or(default).clamp(1, MAX_PAGE)
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    login: String,
    password: String,
}

/// `POST /api/session`: signs in, replacing any session the request came with.
pub async fn sign_in(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Result<Response, Problem> {
    let actor = app.desk.sign_in(&body.login, &body.password).await?;
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    if let Some(old) = cookie(&parts) {
        app.sessions.close(&old);
    }
    let (id, csrf) = app.sessions.open(actor.clone())?;
    let body = Json(json!({ "actor": actor.to_string(), "csrf": csrf }));
    Ok((
        [(header::SET_COOKIE, set_cookie(&id, app.secure_cookies))],
        body,
    )
        .into_response())
}

/// `DELETE /api/session`: signs out.
pub async fn sign_out(State(app): State<App>, caller: Caller) -> Response {
    if let Some(id) = &caller.session {
        app.sessions.close(id);
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, set_cookie("", app.secure_cookies))],
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct TicketsParams {
    queue: Option<String>,
    state_type: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/tickets`: the caller's queue view, a page at a time.
pub async fn tickets(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<TicketsParams>,
) -> Result<Json<Value>, Problem> {
    let mut query = TicketQuery {
        limit: limit(params.limit, 50),
        ..TicketQuery::default()
    };
    if let Some(queue) = params.queue {
        query.queues = Some(BTreeSet::from([queue]));
    }
    if let Some(types) = params.state_type {
        let types = types
            .split(',')
            .map(|t| t.trim().parse::<StateType>())
            .collect::<Result<BTreeSet<_>, _>>()
            .map_err(|e| Problem::invalid(e.to_string()))?;
        query.state_types = Some(types);
    }
    if let Some(text) = &params.cursor {
        query.after = Some(uncursor(text)?);
    }
    let page = app.desk.queue_view(&caller.actor, query).await?;
    Ok(Json(json!({
        "tickets": page.tickets,
        "cursor": page.next.as_ref().map(cursor),
    })))
}

/// `GET /api/tickets/{number}`: a ticket with the articles and history the caller may see.
pub async fn ticket(
    State(app): State<App>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<Json<Value>, Problem> {
    let desk = &app.desk;
    let ticket = desk.find(&caller.actor, &number).await.map_err(hide)?;
    let articles = desk.articles(&caller.actor, ticket.id).await?;
    let history = desk.history(&caller.actor, ticket.id).await?;
    Ok(Json(json!({
        "ticket": ticket,
        "articles": articles,
        "history": history,
    })))
}

/// A malformed number is as unknown as a number nobody has: 404, not a hint at the format.
fn hide(e: ticketcore::Error) -> Problem {
    match e {
        ticketcore::Error::Number(_) => Problem::not_found("no such ticket"),
        e => e.into(),
    }
}

/// `POST /api/tickets/{number}/{action}`.
pub async fn act(
    State(app): State<App>,
    caller: Caller,
    Path((number, action)): Path<(String, String)>,
) -> Result<Json<Value>, Problem> {
    let desk = &app.desk;
    let ticket = desk.find(&caller.actor, &number).await.map_err(hide)?;
    let committed = match action.as_str() {
        "lock" => desk.lock(&caller.actor, ticket.id).await?,
        "unlock" => desk.unlock(&caller.actor, ticket.id).await?,
        _ => return Err(Problem::not_found(format!("no action {action:?}"))),
    };
    Ok(Json(json!({ "ticket": committed.ticket })))
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    q: String,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/search?q=`: full-text search with the query language.
pub async fn search(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<SearchParams>,
) -> Result<Json<Value>, Problem> {
    let paging = Paging {
        after: params.cursor.as_deref().map(uncursor).transpose()?,
        limit: limit(params.limit, 20),
    };
    let results = app.desk.search(&caller.actor, &params.q, paging).await?;
    let hits: Vec<_> = results.hits.iter().map(Found::row).collect();
    Ok(Json(json!({
        "hits": hits,
        "cursor": results.next.as_ref().map(cursor),
    })))
}

#[derive(Debug, Deserialize)]
pub struct FaqParams {
    q: Option<String>,
    category: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/faq`: the entries the reader may see (the public ones without sign-in), or
/// those `q` finds.
pub async fn faq_list(
    State(app): State<App>,
    Reader(caller): Reader,
    Query(params): Query<FaqParams>,
) -> Result<Json<Value>, Problem> {
    let reader = caller.as_ref().map(|c| &c.actor);
    let after = params.cursor.as_deref().map(uncursor).transpose()?;
    let limit = limit(params.limit, 50);
    let results = match &params.q {
        Some(q) => app.desk.faq_search(reader, q, after, limit).await?,
        None => {
            app.desk
                .faq_list(reader, params.category.as_deref(), after, limit)
                .await?
        }
    };
    let entries: Vec<_> = results.hits.iter().map(FaqFound::row).collect();
    Ok(Json(json!({
        "entries": entries,
        "cursor": results.next.as_ref().map(cursor),
    })))
}

/// `GET /api/faq/{number}`: one entry, if the reader may see it.
pub async fn faq_entry(
    State(app): State<App>,
    Reader(caller): Reader,
    Path(number): Path<String>,
) -> Result<Json<Value>, Problem> {
    let number: u64 = number
        .parse()
        .map_err(|_| Problem::not_found("no such FAQ entry"))?;
    let reader = caller.as_ref().map(|c| &c.actor);
    let entry = app.desk.faq_entry(reader, number).await?;
    Ok(Json(json!({ "entry": entry })))
}

#[derive(Debug, Deserialize)]
pub struct StatsParams {
    days: Option<u64>,
}

/// `GET /api/stats?days=`: the desk's statistics over the last days, for what the caller
/// may see.
pub async fn stats(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<StatsParams>,
) -> Result<Json<Value>, Problem> {
    let days = params.days.unwrap_or(30).clamp(1, 366);
    let period = Period::last_days(app.desk.now().date_naive(), days);
    let stats = app.desk.stats(&caller.actor, period).await?;
    Ok(Json(serde_json::to_value(stats).map_err(|e| {
        Problem::invalid(format!("statistics: {e}"))
    })?))
}

/// Every other path.
pub async fn not_found() -> Problem {
    Problem::not_found("no such page")
}
