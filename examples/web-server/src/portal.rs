//! The customer portal: a customer's own tickets with their state, and a new request from
//! the web with attachments. A ticket itself is the ticket page, which shows a customer
//! only what is theirs to see.

use std::collections::BTreeSet;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use ticketcore::{Channel, Message, NewTicket, TicketQuery};

use crate::api::{cursor, uncursor};
use crate::form::Form;
use crate::page::{Customers, Only, when, zone};
use crate::{App, Problem};

#[derive(Debug, Deserialize)]
pub struct PortalParams {
    cursor: Option<String>,
}

/// `GET /portal`: the customer's tickets, newest activity first.
pub async fn portal(
    State(app): State<App>,
    page: Only<Customers>,
    Query(params): Query<PortalParams>,
) -> Response {
    let viewer = page.viewer();
    let caller = &page.caller;
    let listed = async {
        let mut query = TicketQuery {
            limit: 25,
            ..TicketQuery::default()
        };
        if let Some(c) = params.cursor.as_deref().filter(|c| !c.is_empty()) {
            query.after = Some(uncursor(c)?);
        }
        let page = app.desk.queue_view(&caller.actor, query).await?;
        let zone = zone(&app).await;
        let rows: Vec<_> = page
            .tickets
            .iter()
            .map(|t| {
                json!({
                    "number": t.number.to_string(),
                    "title": t.title,
                    "state": t.state,
                    "state_type": t.state_type.as_str(),
                    "changed": when(t.changed, zone),
                    "created": when(t.created, zone),
                })
            })
            .collect();
        let next = page
            .next
            .as_ref()
            .map(|k| format!("/portal?cursor={}", cursor(k)));
        Ok::<_, Problem>((rows, next))
    }
    .await;
    match listed {
        Ok((tickets, next)) => viewer.render(
            StatusCode::OK,
            "portal.html",
            context! { nav => "portal", live => "desk", tickets, next },
        ),
        Err(p) => viewer.refusal(&p),
    }
}

/// The queues a customer may write to: those with an address (the ones mail reaches), else
/// every top-level queue.
async fn web_queues(app: &App) -> Result<Vec<String>, Problem> {
    let config = app.desk.config().await?;
    let mut queues: BTreeSet<String> = config
        .queues
        .iter()
        .filter(|q| q.address.is_some())
        .map(|q| q.name.clone())
        .collect();
    if queues.is_empty() {
        queues = config
            .queues
            .iter()
            .filter(|q| !q.name.contains("::"))
            .map(|q| q.name.clone())
            .collect();
    }
    Ok(queues.into_iter().collect())
}

/// `GET /portal/new`: the form for a new request.
pub async fn new_form(State(app): State<App>, page: Only<Customers>) -> Response {
    let viewer = page.viewer();
    match web_queues(&app).await {
        Ok(queues) => viewer.render(
            StatusCode::OK,
            "new_ticket.html",
            context! { nav => "new", queues, title => "", text => "", error => None::<String> },
        ),
        Err(p) => viewer.refusal(&p),
    }
}

/// `POST /portal/new`: a new ticket from the web, with its attachments.
pub async fn create(State(app): State<App>, page: Only<Customers>, form: Form) -> Response {
    let viewer = page.viewer();
    let caller = &page.caller;
    let lang = page.lang;
    if let Err(p) = form.check(caller) {
        return viewer.refusal(&p);
    }
    let title = form.get("title").unwrap_or_default().to_string();
    let text = form.get("text").unwrap_or_default().to_string();
    let created = async {
        let queues = web_queues(&app).await?;
        let queue = form
            .get("queue")
            .filter(|q| queues.iter().any(|name| name == q))
            .or(queues.first().map(String::as_str))
            .map(str::to_string)
            .ok_or_else(|| Problem::invalid("this desk takes no requests from the web"))?;
        if title.is_empty() || text.is_empty() {
            return Err(Problem::invalid(crate::page::text(lang, "need_title_text")));
        }
        let mut message = Message::text(text.clone());
        message.subject = title.clone();
        message.attachments = form.files;
        let input = NewTicket::new(queue, title.clone(), Channel::Web, message);
        Ok(app.desk.create_ticket(&caller.actor, input).await?)
    }
    .await;
    match created {
        Ok(committed) => Redirect::to(&format!(
            "/tickets/{}?done=created",
            committed.ticket.number
        ))
        .into_response(),
        Err(p) => {
            let queues = web_queues(&app).await.unwrap_or_default();
            viewer.render(
                p.status,
                "new_ticket.html",
                context! { nav => "new", queues, title, text, error => p.message },
            )
        }
    }
}
