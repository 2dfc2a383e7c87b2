//! The agent desk and the ticket page: the dashboard with the queue view and bulk actions,
//! a ticket with its articles, history and action forms (customers see their share of the
//! same page), search, notifications and statistics. Every read and every change goes
//! through the Desk as the signed-in visitor.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;
use ticketcore::stats::Period;
use ticketcore::{Actor, Article, Event, Found, Paging, StateType, Ticket, TicketQuery};

use crate::action::{ActionBody, hide, perform};
use crate::api::{cursor, uncursor};
use crate::chart;
use crate::form::Form;
use crate::page::{Agents, Lang, Only, Viewer, sign_in_first, when, zone};
use crate::session::{Caller, Visitor};
use crate::{App, Problem};

/// Tickets per page of the dashboard.
const PAGE: usize = 25;
/// How far back the notifications page looks in the event log.
const NOTIFICATION_WINDOW: u64 = 5_000;
/// The consumer name under which an agent's "read up to here" is kept.
const READ_MARK: &str = "web-notifications";

/// The state types the dashboard shows unless asked otherwise: what still needs work.
fn open_types() -> BTreeSet<StateType> {
    StateType::ALL
        .into_iter()
        .filter(|t| !t.is_closed() && !matches!(t, StateType::Merged | StateType::Removed))
        .collect()
}

/// Whether a deadline of the ticket has passed, and whether one warns.
fn escalation(ticket: &Ticket, now: DateTime<Utc>) -> (bool, bool) {
    let e = &ticket.escalation;
    let deadlines = [&e.first_response, &e.update, &e.solution];
    let live = deadlines.iter().filter_map(|d| d.as_ref());
    let escalated = live
        .clone()
        .any(|d| d.breached || (d.paused.is_none() && d.due <= now));
    let warned = live
        .clone()
        .any(|d| d.warned || (d.paused.is_none() && d.warn_at <= now));
    (escalated, warned)
}

/// A ticket as a row of a list.
fn row(ticket: &Ticket, me: &str, now: DateTime<Utc>, zone: chrono_tz::Tz) -> serde_json::Value {
    let (escalated, warned) = escalation(ticket, now);
    json!({
        "number": ticket.number.to_string(),
        "title": ticket.title,
        "queue": ticket.queue,
        "state": ticket.state,
        "state_type": ticket.state_type.as_str(),
        "priority": ticket.priority.get(),
        "locked_by": ticket.lock.holder(),
        "mine": ticket.lock.holder() == Some(me),
        "owner": ticket.owner,
        "customer": ticket.customer,
        "created": when(ticket.created, zone),
        "changed": when(ticket.changed, zone),
        "escalated": escalated,
        "warned": warned && !escalated,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DeskParams {
    queue: Option<String>,
    state_type: Option<String>,
    mine: Option<String>,
    cursor: Option<String>,
}

/// `GET /`: the agent's dashboard, the customer's portal, or the sign-in page.
pub async fn home(visitor: Visitor) -> Response {
    match visitor.0.map(|c| c.actor) {
        Some(Actor::Agent(_)) => Redirect::to("/desk").into_response(),
        Some(Actor::Customer(_)) => Redirect::to("/portal").into_response(),
        _ => Redirect::to("/sign-in").into_response(),
    }
}

/// `GET /desk`: the dashboard.
pub async fn dashboard(
    State(app): State<App>,
    page: Only<Agents>,
    Query(params): Query<DeskParams>,
) -> Response {
    let viewer = page.viewer();
    let caller = &page.caller;
    match dashboard_page(&app, caller, &params, None).await {
        Ok(data) => viewer.render(StatusCode::OK, "dashboard.html", data),
        Err(p) => viewer.refusal(&p),
    }
}

async fn dashboard_page(
    app: &App,
    caller: &Caller,
    params: &DeskParams,
    notice: Option<Value>,
) -> Result<Value, Problem> {
    let desk = &app.desk;
    let actor = &caller.actor;
    let me = match actor {
        Actor::Agent(login) => login.as_str(),
        _ => "",
    };
    let now = desk.now();
    let zone = zone(app).await;
    let mut query = TicketQuery {
        limit: PAGE,
        state_types: Some(open_types()),
        ..TicketQuery::default()
    };
    if let Some(queue) = params.queue.as_ref().filter(|q| !q.is_empty()) {
        query.queues = Some(BTreeSet::from([queue.clone()]));
    }
    match params.state_type.as_deref() {
        None | Some("") => {}
        Some("all") => query.state_types = None,
        Some("pending") => {
            query.state_types = Some(
                StateType::ALL
                    .into_iter()
                    .filter(|t| t.as_str().starts_with("pending"))
                    .collect(),
            )
        }
        Some(t) => {
            let t = t
                .parse::<StateType>()
                .map_err(|e| Problem::invalid(e.to_string()))?;
            query.state_types = Some(BTreeSet::from([t]));
        }
    }
    let mine = params.mine.as_deref() == Some("1");
    if mine {
        query.locked = Some(true);
        query.owner = Some(me.to_string());
    }
    if let Some(c) = params.cursor.as_deref().filter(|c| !c.is_empty()) {
        query.after = Some(uncursor(c)?);
    }
    let page = desk.queue_view(actor, query).await?;
    let stats = desk
        .stats(actor, Period::last_days(now.date_naive(), 1))
        .await?;
    let count = |now: &BTreeMap<StateType, u64>, pick: &dyn Fn(StateType) -> bool| -> u64 {
        now.iter().filter(|(t, _)| pick(**t)).map(|(_, n)| n).sum()
    };
    let queues: Vec<_> = stats
        .queues
        .iter()
        .map(|(name, q)| {
            json!({
                "name": name,
                "short": name.rsplit("::").next().unwrap_or(name),
                "depth": name.matches("::").count(),
                "new": count(&q.now, &|t| t == StateType::New),
                "open": count(&q.now, &|t| t == StateType::Open),
                "pending": count(&q.now, &|t| t.as_str().starts_with("pending")),
            })
        })
        .collect();
    let config = desk.config().await?;
    let tickets: Vec<_> = page.tickets.iter().map(|t| row(t, me, now, zone)).collect();
    let next = page.next.as_ref().map(|key| {
        let mut link = format!("/desk?cursor={}", cursor(key));
        for (name, value) in [
            ("queue", params.queue.as_deref()),
            ("state_type", params.state_type.as_deref()),
            ("mine", params.mine.as_deref()),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                link.push_str(&format!("&{name}={}", encode(v)));
            }
        }
        link
    });
    Ok(context! {
        nav => "desk",
        live => "desk",
        queues,
        tickets,
        next,
        paged => params.cursor.is_some(),
        filter => context! {
            queue => params.queue.clone().unwrap_or_default(),
            state_type => params.state_type.clone().unwrap_or_default(),
            mine,
        },
        all_queues => config.queues.iter().map(|q| q.name.clone()).collect::<Vec<_>>(),
        states => manual_states(&config),
        notice,
    })
}

/// `text` for a URL's query.
pub(crate) fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The states an agent may choose by hand, with whether each needs a pending time.
fn manual_states(config: &ticketcore::Config) -> Vec<serde_json::Value> {
    config
        .states
        .iter()
        .filter(|s| {
            !matches!(
                s.state_type,
                StateType::New | StateType::Merged | StateType::Removed
            )
        })
        .map(|s| json!({ "name": s.name, "pending": s.state_type.as_str().starts_with("pending") }))
        .collect()
}

/// `POST /desk/bulk`: one action on every selected ticket; what was refused is listed.
pub async fn bulk(State(app): State<App>, page: Only<Agents>, form: Form) -> Response {
    let viewer = page.viewer();
    let caller = &page.caller;
    let lang = page.lang;
    if let Err(p) = form.check(caller) {
        return viewer.refusal(&p);
    }
    let numbers = form.all("tickets");
    let action = form.get("action").unwrap_or_default().to_string();
    let zone = zone(&app).await;
    let allowed = ["lock", "unlock", "move", "state", "priority"];
    let mut done = 0;
    let mut refused = Vec::new();
    if !allowed.contains(&action.as_str()) {
        refused.push(json!({ "number": "", "reason": crate::page::text(lang, "bulk_choose") }));
    } else if numbers.is_empty() {
        refused.push(json!({ "number": "", "reason": crate::page::text(lang, "bulk_none") }));
    } else {
        let fields = form.fields.clone();
        for number in &numbers {
            let body = ActionBody::from_form(
                Form {
                    fields: fields.clone(),
                    files: Vec::new(),
                },
                zone,
            );
            let outcome = match body {
                Ok(body) => match app.desk.find(&caller.actor, number).await.map_err(hide) {
                    Ok(ticket) => perform(&app.desk, &caller.actor, &ticket, &action, body)
                        .await
                        .map(|_| ()),
                    Err(p) => Err(p),
                },
                Err(p) => Err(p),
            };
            match outcome {
                Ok(()) => done += 1,
                Err(p) => refused.push(json!({ "number": number, "reason": p.message })),
            }
        }
    }
    let notice = context! { done, refused };
    match dashboard_page(&app, caller, &DeskParams::default(), Some(notice)).await {
        Ok(data) => viewer.render(StatusCode::OK, "dashboard.html", data),
        Err(p) => viewer.refusal(&p),
    }
}

/// An article as the ticket page shows it.
fn article(number: &str, a: &Article, zone: chrono_tz::Tz) -> serde_json::Value {
    json!({
        "id": a.id.0.to_string(),
        "created": when(a.created, zone),
        "sender": a.sender,
        "channel": a.channel,
        "internal": !a.visible_to_customer,
        "author": a.author.to_string(),
        "from": a.from,
        "to": a.to,
        "subject": a.subject,
        "body": a.body,
        "attachments": a.attachments.iter().map(|f| json!({
            "name": f.name,
            "size": crate::page::size(f.size),
            "url": format!("/api/tickets/{number}/attachments/{}", f.hash.0),
            "image": matches!(f.content_type.as_str(), "image/png" | "image/jpeg" | "image/gif" | "image/webp"),
        })).collect::<Vec<_>>(),
    })
}

/// What an event changed, in a few words: "from → to", or its values.
fn detail(event: &Event) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&event.kind) else {
        return String::new();
    };
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "–".into(),
        v => v.to_string(),
    };
    if let (Some(from), Some(to)) = (fields.get("from"), fields.get("to")) {
        return format!("{} → {}", show(from), show(to));
    }
    fields
        .iter()
        .filter(|(k, v)| !matches!(k.as_str(), "type" | "kind" | "article") && !v.is_object())
        .map(|(k, v)| match v {
            serde_json::Value::Array(items) => {
                format!(
                    "{k}: {}",
                    items.iter().map(show).collect::<Vec<_>>().join(", ")
                )
            }
            v => format!("{k}: {}", show(v)),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// What the ticket form remembers of a refused post, so nothing typed is lost.
#[derive(Debug, Default, serde::Serialize)]
struct Draft {
    action: String,
    text: String,
    subject: String,
}

/// `GET /tickets/{number}`: the ticket page.
pub async fn ticket(
    State(app): State<App>,
    visitor: Visitor,
    lang: Lang,
    Path(number): Path<String>,
    Query(done): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(caller) = visitor.0.as_ref() else {
        return sign_in_first(&format!("/tickets/{}", encode(&number)));
    };
    let viewer = Viewer {
        lang,
        caller: Some(caller),
    };
    let done = done.get("done").cloned();
    match ticket_page(&app, caller, &number, None, Draft::default(), done).await {
        Ok(data) => viewer.render(StatusCode::OK, "ticket.html", data),
        Err(p) => viewer.refusal(&p),
    }
}

async fn ticket_page(
    app: &App,
    caller: &Caller,
    number: &str,
    error: Option<&Problem>,
    draft: Draft,
    done: Option<String>,
) -> Result<Value, Problem> {
    let desk = &app.desk;
    let actor = &caller.actor;
    let ticket = desk.find(actor, number).await.map_err(hide)?;
    let number = ticket.number.to_string();
    let zone = zone(app).await;
    let now = desk.now();
    let articles = desk.articles(actor, ticket.id).await?;
    let is_agent = matches!(actor, Actor::Agent(_));
    let me = match actor {
        Actor::Agent(l) | Actor::Customer(l) => l.as_str(),
        Actor::System => "",
    };
    let mut data = context! {
        nav => if is_agent { "desk" } else { "portal" },
        live => "ticket",
        ticket_id => ticket.id.0.to_string(),
        ticket => row(&ticket, me, now, zone),
        version => ticket.version,
        pending_until => ticket.pending_until.map(|t| when(t, zone)),
        articles => articles.iter().map(|a| article(&number, a, zone)).collect::<Vec<_>>(),
        error => error.map(|p| &p.message),
        draft,
        done,
        zone => zone.name(),
    };
    if is_agent {
        let config = desk.config().await?;
        let history: Vec<_> = desk
            .history(actor, ticket.id)
            .await?
            .iter()
            .map(|e| {
                json!({
                    "at": when(e.at, zone),
                    "actor": e.actor.to_string(),
                    "type": e.kind.history_type(),
                    "detail": detail(e),
                })
            })
            .collect();
        let mut templates = Vec::new();
        for t in &config.templates {
            if let Ok(m) =
                ticketcore_app::answer::from_template(desk, actor, &ticket, &t.name).await
            {
                templates.push(json!({ "name": t.name, "text": m.body }));
            }
        }
        let faq: Vec<_> = desk
            .faq_list(Some(actor), None, None, 50)
            .await?
            .hits
            .iter()
            .map(|f| json!({ "number": f.entry.number, "title": f.entry.title, "text": f.entry.text }))
            .collect();
        let deadlines: Vec<_> = [
            ("first_response", &ticket.escalation.first_response),
            ("update", &ticket.escalation.update),
            ("solution", &ticket.escalation.solution),
        ]
        .into_iter()
        .filter_map(|(kind, d)| {
            d.as_ref().map(|d| {
                json!({
                    "kind": kind,
                    "due": when(d.due, zone),
                    "breached": d.breached || (d.paused.is_none() && d.due <= now),
                    "paused": d.paused.is_some(),
                })
            })
        })
        .collect();
        let agent_data = context! {
            history,
            templates,
            faq,
            deadlines,
            watching => ticket.watchers.contains(me),
            links => ticket.links.iter().map(|l| json!({ "number": l.number.to_string(), "kind": l.kind })).collect::<Vec<_>>(),
            queues => config.queues.iter().map(|q| q.name.clone()).collect::<Vec<_>>(),
            states => manual_states(&config),
            agents => config.agents.iter().filter(|a| a.valid).map(|a| json!({ "login": a.login, "name": a.name })).collect::<Vec<_>>(),
            macros => config.macros.iter().map(|m| json!({ "name": m.name, "label": m.label() })).collect::<Vec<_>>(),
        };
        data = context! { ..agent_data, ..data };
    }
    Ok(data)
}

/// `POST /tickets/{number}/{action}`: a form's action, then back to the ticket; a refusal
/// is shown on the ticket page with what was typed kept.
pub async fn act(
    State(app): State<App>,
    visitor: Visitor,
    lang: Lang,
    Path((number, action)): Path<(String, String)>,
    form: Form,
) -> Response {
    let Some(caller) = visitor.0.as_ref() else {
        return sign_in_first(&format!("/tickets/{}", encode(&number)));
    };
    let viewer = Viewer {
        lang,
        caller: Some(caller),
    };
    if let Err(p) = form.check(caller) {
        return viewer.refusal(&p);
    }
    let draft = Draft {
        action: action.clone(),
        text: form.get("text").unwrap_or_default().to_string(),
        subject: form.get("subject").unwrap_or_default().to_string(),
    };
    let outcome = async {
        let ticket = app.desk.find(&caller.actor, &number).await.map_err(hide)?;
        if let Some(seen) = form.get("version")
            && seen != ticket.version.to_string()
        {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                crate::page::text(lang, "stale_page"),
            ));
        }
        let body = ActionBody::from_form(form, zone(&app).await)?;
        perform(&app.desk, &caller.actor, &ticket, &action, body).await
    }
    .await;
    match outcome {
        Ok(committed) => {
            // A split shows the new ticket; a merge the one it went into.
            let shown = match action.as_str() {
                "split" => committed.ticket.number.to_string(),
                "merge" => committed
                    .events
                    .iter()
                    .find_map(|e| match &e.kind {
                        ticketcore::EventKind::Merged { into, .. } => Some(into.to_string()),
                        _ => None,
                    })
                    .unwrap_or(number),
                _ => committed.ticket.number.to_string(),
            };
            Redirect::to(&format!(
                "/tickets/{}?done={}",
                encode(&shown),
                encode(&action)
            ))
            .into_response()
        }
        Err(problem) if problem.status == StatusCode::NOT_FOUND => viewer.refusal(&problem),
        Err(problem) => {
            match ticket_page(&app, caller, &number, Some(&problem), draft, None).await {
                Ok(data) => viewer.render(problem.status, "ticket.html", data),
                Err(p) => viewer.refusal(&p),
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    cursor: Option<String>,
}

/// `GET /search?q=`: tickets the query language finds, for agents and customers alike.
pub async fn search(
    State(app): State<App>,
    visitor: Visitor,
    lang: Lang,
    Query(params): Query<SearchParams>,
) -> Response {
    let Some(caller) = visitor.0.as_ref() else {
        return sign_in_first("/search");
    };
    let viewer = Viewer {
        lang,
        caller: Some(caller),
    };
    let q = params.q.clone().unwrap_or_default();
    let found = async {
        if q.trim().is_empty() {
            return Ok((Vec::new(), None));
        }
        let paging = Paging {
            after: params.cursor.as_deref().map(uncursor).transpose()?,
            limit: 20,
        };
        let results = app.desk.search(&caller.actor, &q, paging).await?;
        let hits: Vec<_> = results
            .hits
            .iter()
            .map(|h: &Found| {
                json!({
                    "number": h.ticket.number.to_string(),
                    "title": h.ticket.title,
                    "queue": h.ticket.queue,
                    "state": h.ticket.state,
                    "snippet": h.snippet.html(),
                })
            })
            .collect();
        let next = results
            .next
            .as_ref()
            .map(|k| format!("/search?q={}&cursor={}", encode(&q), cursor(k)));
        Ok::<_, Problem>((hits, next))
    }
    .await;
    match found {
        Ok((hits, next)) => viewer.render(
            StatusCode::OK,
            "search.html",
            context! { nav => "search", q, hits, next, searched => !params.q.unwrap_or_default().trim().is_empty(), error => None::<String> },
        ),
        Err(p) => viewer.render(
            p.status,
            "search.html",
            context! { nav => "search", q, hits => Vec::<()>::new(), next => None::<String>, searched => true, error => p.message },
        ),
    }
}

/// `GET /notifications`: what the desk told this agent lately, newest first; those after
/// the read mark are new.
pub async fn notifications(State(app): State<App>, page: Only<Agents>) -> Response {
    let viewer = page.viewer();
    let caller = &page.caller;
    let listed = async {
        let desk = &app.desk;
        let actor = &caller.actor;
        let me = match actor {
            Actor::Agent(l) => l.clone(),
            _ => String::new(),
        };
        let read = desk.cursor(actor, READ_MARK).await?;
        let last = desk.last_seq().await?;
        let zone = zone(&app).await;
        let mut after = last.saturating_sub(NOTIFICATION_WINDOW);
        let mut told = Vec::new();
        while after < last {
            let page = desk.events_since(actor, after, 500).await?;
            for e in &page.events {
                if let ticketcore::EventKind::Notify { reason, agents, .. } = &e.kind
                    && agents.contains(&me)
                {
                    told.push((e.seq, e.ticket, e.at, reason.name(), e.actor.to_string()));
                }
            }
            if page.cursor <= after {
                break;
            }
            after = page.cursor;
        }
        told.reverse();
        told.truncate(100);
        let mut rows = Vec::new();
        for (seq, id, at, reason, by) in told {
            let Ok(ticket) = desk.ticket(actor, id).await else {
                continue;
            };
            rows.push(json!({
                "unread": seq > read,
                "at": when(at, zone),
                "reason": reason,
                "by": by,
                "number": ticket.number.to_string(),
                "title": ticket.title,
            }));
        }
        Ok::<_, Problem>((rows, last))
    }
    .await;
    match listed {
        Ok((rows, last)) => viewer.render(
            StatusCode::OK,
            "notifications.html",
            context! { nav => "notifications", rows, last },
        ),
        Err(p) => viewer.refusal(&p),
    }
}

/// `POST /notifications/read`: marks everything up to what the page showed as read.
pub async fn mark_read(State(app): State<App>, page: Only<Agents>, form: Form) -> Response {
    let viewer = page.viewer();
    let caller = &page.caller;
    let marked = async {
        form.check(caller)?;
        let upto = form
            .get("last")
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| Problem::invalid("which notifications were read is missing"))?;
        let last = app.desk.last_seq().await?;
        app.desk
            .save_cursor(&caller.actor, READ_MARK, upto.min(last))
            .await?;
        Ok::<_, Problem>(())
    }
    .await;
    match marked {
        Ok(()) => Redirect::to("/notifications").into_response(),
        Err(p) => viewer.refusal(&p),
    }
}

#[derive(Debug, Deserialize)]
pub struct StatsParams {
    days: Option<u64>,
}

/// A duration in seconds as people read it.
fn span(seconds: i64) -> String {
    match seconds {
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `GET /stats`: the library's statistics as charts, for what the agent may see.
pub async fn stats(
    State(app): State<App>,
    page: Only<Agents>,
    Query(params): Query<StatsParams>,
) -> Response {
    let viewer = page.viewer();
    let caller = &page.caller;
    let lang = page.lang;
    let days = params.days.unwrap_or(30).clamp(1, 366);
    let period = Period::last_days(app.desk.now().date_naive(), days);
    let stats = match app.desk.stats(&caller.actor, period).await {
        Ok(s) => s,
        Err(e) => return viewer.refusal(&e.into()),
    };
    let t = |key: &str| crate::page::text(lang, key);
    let labels: Vec<String> = stats.per_day.keys().map(|d| d.to_string()).collect();
    let created: Vec<u64> = stats.per_day.values().map(|d| d.created).collect();
    let closed: Vec<u64> = stats.per_day.values().map(|d| d.closed).collect();
    let per_day = chart::columns(
        &t("chart_per_day"),
        &labels,
        &[(&t("created"), &created), (&t("closed"), &closed)],
    );
    let parts = ["new", "open", "pending", "closed"];
    let part_names: Vec<String> = parts.iter().map(|p| t(&format!("st_{p}"))).collect();
    let rows: Vec<(String, Vec<u64>)> = stats
        .queues
        .iter()
        .map(|(name, q)| {
            let sum = |pick: &dyn Fn(StateType) -> bool| -> u64 {
                q.now
                    .iter()
                    .filter(|(t, _)| pick(**t))
                    .map(|(_, n)| n)
                    .sum()
            };
            let values = vec![
                sum(&|t| t == StateType::New),
                sum(&|t| t == StateType::Open),
                sum(&|t| t.as_str().starts_with("pending")),
                sum(&|t| t.is_closed()),
            ];
            (name.clone(), values)
        })
        .collect();
    let names: Vec<&str> = part_names.iter().map(String::as_str).collect();
    let per_queue = chart::stacked(&t("chart_per_queue"), &names, &rows);
    let times = |pick: &dyn Fn(&ticketcore::stats::QueueStats) -> &ticketcore::stats::Times,
                 title: &str| {
        let rows: Vec<(String, f64, String)> = stats
            .queues
            .iter()
            .filter_map(|(name, q)| {
                let times = pick(q);
                times.median.map(|m| {
                    (
                        name.clone(),
                        m as f64 / 3600.0,
                        format!("{} (n={})", span(m), times.count),
                    )
                })
            })
            .collect();
        chart::bars(title, &rows)
    };
    let first_response = times(&|q| &q.first_response, &t("chart_first_response"));
    let solution = times(&|q| &q.solution, &t("chart_solution"));
    viewer.render(
        StatusCode::OK,
        "stats.html",
        context! {
            nav => "stats",
            days,
            totals => context! {
                tickets => stats.tickets,
                created => stats.created,
                closed => stats.closed,
                escalations => stats.escalations,
                first_response => stats.first_response.median.map(span),
                solution => stats.solution.median.map(span),
            },
            charts => vec![
                Value::from_safe_string(per_day),
                Value::from_safe_string(per_queue),
                Value::from_safe_string(first_response),
                Value::from_safe_string(solution),
            ],
        },
    )
}
