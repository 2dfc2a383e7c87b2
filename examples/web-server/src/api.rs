//! The JSON API's handlers: each one Desk call as the caller.

use std::collections::BTreeSet;
use std::convert::Infallible;

use axum::body::Bytes;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::StreamExt;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use ticketcore::article::ContentHash;
use ticketcore::finding::MAX_PAGE;
use ticketcore::stats::Period;
use ticketcore::{
    Actor, Channel, FaqFound, Found, Message, NewTicket, Paging, Priority, StateType, TicketQuery,
};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::action::{ActionBody, hide, perform};
use crate::problem::ProblemBody;
use crate::session::{Caller, Reader, cookie, csrf_token, set_cookie};
use crate::{App, Problem};

/// A page position as the API hands it out: opaque, URL-safe.
pub(crate) fn cursor<T: serde::Serialize>(key: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// The page position a cursor names.
pub(crate) fn uncursor<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| Problem::invalid("the cursor is not one this server handed out"))
}

fn limit(limit: Option<usize>, default: usize) -> usize {
    limit.unwrap_or(default).clamp(1, MAX_PAGE)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignIn {
    login: String,
    password: String,
}

/// `POST /api/session`: signs in, replacing any session the request came with.
#[utoipa::path(post, path = "/api/session", request_body = SignIn, responses((status = 200, description = "signed in: sets the session cookie; the body names the actor and the CSRF token"), (status = 401, description = "unknown login or wrong password", body = ProblemBody), (status = 429, description = "too many failed sign-ins", body = ProblemBody)))]
pub async fn sign_in(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Result<Response, Problem> {
    let (actor, id) = app.desk.open_session(&body.login, &body.password).await?;
    end_session(&app, &headers).await;
    let body = Json(json!({ "actor": actor.to_string(), "csrf": csrf_token(&id) }));
    Ok((
        [(header::SET_COOKIE, set_cookie(&id, app.secure_cookies))],
        body,
    )
        .into_response())
}

/// Ends the session the request came with, if any: a sign-in replaces it, a sign-out ends it.
pub(crate) async fn end_session(app: &App, headers: &HeaderMap) {
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers.clone();
    if let Some(old) = cookie(&parts)
        && let Err(e) = app.desk.end_session(&old).await
    {
        tracing::warn!("could not end a session: {e}");
    }
}

/// `DELETE /api/session`: signs out.
#[utoipa::path(delete, path = "/api/session", responses((status = 204, description = "signed out"), (status = 401, description = "no session", body = ProblemBody)))]
pub async fn sign_out(State(app): State<App>, caller: Caller) -> Result<Response, Problem> {
    if let Some(id) = &caller.session {
        app.desk.end_session(id).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, set_cookie("", app.secure_cookies))],
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketsParams {
    queue: Option<String>,
    state_type: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/tickets`: the caller's queue view, a page at a time.
#[utoipa::path(get, path = "/api/tickets", params(TicketsParams), responses((status = 200, description = "a page of the queue view: tickets and the cursor of the next page"), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
pub async fn tickets(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<TicketsParams>,
) -> Result<Json<Value>, Problem> {
    let mut query = TicketQuery {
        limit: limit(params.limit, 25),
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
#[utoipa::path(get, path = "/api/tickets/{number}", params(("number" = String, Path, description = "ticket number")), responses((status = 200, description = "the ticket with the articles and history the caller may see"), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
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

/// `POST /api/tickets/{number}/{action}`: lock, unlock, notes, replies, move, state,
/// priority, owner, merge, split, links, watch, macro; the body (JSON) names what the action needs.
#[utoipa::path(post, path = "/api/tickets/{number}/{action}", params(("number" = String, Path, description = "ticket number"), ("action" = String, Path, description = "lock, unlock, notes, replies, move, state, priority, owner, merge, split, links, watch or macro (a one-click action named by \"name\")")), request_body = ActionBody, responses((status = 200, description = "the ticket after the action"), (status = 403, description = "no permission", body = ProblemBody), (status = 423, description = "locked by someone else", body = ProblemBody), (status = 409, description = "changed meanwhile", body = ProblemBody), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
pub async fn act(
    State(app): State<App>,
    caller: Caller,
    Path((number, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    let ticket = app.desk.find(&caller.actor, &number).await.map_err(hide)?;
    let body = action_body(&body)?;
    let committed = perform(&app.desk, &caller.actor, &ticket, &action, body).await?;
    Ok(Json(json!({ "ticket": committed.ticket })))
}

/// The action body: empty is `{}`.
fn action_body(bytes: &[u8]) -> Result<ActionBody, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    serde_json::from_slice(bytes).map_err(|e| Problem::invalid(format!("the request body: {e}")))
}

/// A new ticket as the API takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketBody {
    queue: String,
    title: String,
    text: String,
    customer: Option<String>,
    priority: Option<u8>,
}

/// `POST /api/tickets`: an agent records a phone call for a customer; a customer writes in
/// through the web.
#[utoipa::path(post, path = "/api/tickets", request_body = NewTicketBody, responses((status = 201, description = "the new ticket"), (status = 400, description = "invalid", body = ProblemBody), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<NewTicketBody>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let channel = match caller.actor {
        Actor::Customer(_) => Channel::Web,
        _ => Channel::Phone,
    };
    let mut input = NewTicket::new(body.queue, body.title, channel, Message::text(body.text));
    input.customer = body.customer;
    if let Some(priority) = body.priority {
        input.priority =
            Some(Priority::new(priority).map_err(|e| Problem::invalid(e.to_string()))?);
    }
    let committed = app.desk.create_ticket(&caller.actor, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "ticket": committed.ticket })),
    ))
}

/// `GET /api/tickets/{number}/attachments/{hash}`: the bytes, always as a download.
#[utoipa::path(get, path = "/api/tickets/{number}/attachments/{hash}", params(("number" = String, Path, description = "ticket number"), ("hash" = String, Path, description = "the SHA-256 of the attachment")), responses((status = 200, description = "the bytes, as a download"), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
pub async fn attachment(
    State(app): State<App>,
    caller: Caller,
    Path((number, hash)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let desk = &app.desk;
    let ticket = desk.find(&caller.actor, &number).await.map_err(hide)?;
    let hash = ContentHash(hash);
    let data = desk.attachment(&caller.actor, ticket.id, &hash).await?;
    let articles = desk.articles(&caller.actor, ticket.id).await?;
    let meta = articles
        .iter()
        .flat_map(|a| &a.attachments)
        .find(|a| a.hash == hash)
        .ok_or_else(|| Problem::not_found("no such attachment"))?;
    Ok(download(meta, data))
}

/// A file as a download: never shown in the browser's page, its name made safe.
pub(crate) fn download(meta: &ticketcore::article::Attachment, data: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type(&meta.content_type)),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", download_name(&meta.name)),
            ),
        ],
        data,
    )
        .into_response()
}

/// A content type safe to name in a header (anything else is served as bytes).
fn content_type(declared: &str) -> String {
    let ok = !declared.is_empty()
        && declared.len() < 128
        && declared
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/+-.;= ".contains(&b));
    if ok {
        declared.to_string()
    } else {
        "application/octet-stream".into()
    }
}

/// A file name for `Content-Disposition`: no path, no quotes or control characters, ASCII.
fn download_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_start_matches('.');
    if clean.is_empty() {
        "attachment".into()
    } else {
        clean.chars().take(200).collect()
    }
}

/// `GET /api/events`: server-sent events of what the caller may see, from `Last-Event-ID`
/// (or `?after=`), live.
#[utoipa::path(get, path = "/api/events", params(EventsParams), responses((status = 200, description = "server-sent events of what the caller may see, id = sequence number; resumes after Last-Event-ID"), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
pub async fn events(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, Problem> {
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = match resumed.or(params.after) {
        Some(after) => after,
        None => app.desk.last_seq().await?,
    };
    let stream = app.desk.follow(caller.actor, after).map(|event| {
        Ok(match event {
            Ok(event) => SseEvent::default()
                .id(event.seq.to_string())
                .event(event.kind.history_type())
                .json_data(&event)
                .unwrap_or_else(|_| SseEvent::default().comment("unencodable event")),
            Err(e) => SseEvent::default().event("error").data(e.to_string()),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    after: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    q: String,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/search?q=`: full-text search with the query language.
#[utoipa::path(get, path = "/api/search", params(SearchParams), responses((status = 200, description = "hits ranked by relevance with snippets, and the cursor of the next page"), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FaqParams {
    q: Option<String>,
    category: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/faq`: the entries the reader may see (the public ones without sign-in), or
/// those `q` finds.
#[utoipa::path(get, path = "/api/faq", params(FaqParams), responses((status = 200, description = "FAQ entries the reader may see (public ones without sign-in)"), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
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
#[utoipa::path(get, path = "/api/faq/{number}", params(("number" = u64, Path, description = "FAQ entry number")), responses((status = 200, description = "the entry"), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    days: Option<u64>,
}

/// `GET /api/stats?days=`: the desk's statistics over the last days, for what the caller
/// may see.
#[utoipa::path(get, path = "/api/stats", params(StatsParams), responses((status = 200, description = "statistics over the last days, for what the caller may see"), (status = 403, description = "a customer", body = ProblemBody), (status = 401, description = "no session or token", body = ProblemBody), (status = 404, description = "not found, or not for the caller to see", body = ProblemBody)))]
pub async fn stats(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<StatsParams>,
) -> Result<Json<Value>, Problem> {
    if matches!(caller.actor, Actor::Customer(_)) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "statistics are for agents",
        ));
    }
    let days = params.days.unwrap_or(30).clamp(1, 366);
    let period = Period::last_days(app.desk.now().date_naive(), days);
    let stats = app.desk.stats(&caller.actor, period).await?;
    Ok(Json(serde_json::to_value(stats).map_err(|e| {
        Problem::invalid(format!("statistics: {e}"))
    })?))
}

/// The API's description, generated from the handlers.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "ticketcore-web",
        description = "The ticketcore desk's JSON API"
    ),
    paths(
        sign_in, sign_out, tickets, create, ticket, act, attachment, events, search, faq_list,
        faq_entry, stats
    ),
    components(schemas(SignIn, ActionBody, NewTicketBody, ProblemBody))
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: the API's OpenAPI 3.1 description.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_json().unwrap_or_default(),
    )
        .into_response()
}

/// Every other path.
pub async fn not_found() -> Problem {
    Problem::not_found("no such page")
}
