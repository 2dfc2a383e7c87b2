//! The FAQ in the browser: categories, entries and search, for anyone; signed-in agents see
//! the internal entries of their categories too, anonymous readers only public ones.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;
use ticketcore::article::ContentHash;
use ticketcore::{FaqFound, faq};

use crate::api::{cursor, download, uncursor};
use crate::page::{Lang, Viewer, when, zone};
use crate::session::Visitor;
use crate::{App, Problem};

#[derive(Debug, Deserialize)]
pub struct FaqParams {
    q: Option<String>,
    category: Option<String>,
    cursor: Option<String>,
}

fn rows(hits: &[FaqFound]) -> Vec<serde_json::Value> {
    hits.iter()
        .map(|f| {
            json!({
                "number": f.entry.number,
                "title": f.entry.title,
                "category": f.entry.category,
                "state": f.entry.state,
                "snippet": f.snippet.html(),
            })
        })
        .collect()
}

/// `GET /faq`: the categories, and the entries of one, or those a search finds.
pub async fn index(
    State(app): State<App>,
    visitor: Visitor,
    lang: Lang,
    Query(params): Query<FaqParams>,
) -> Response {
    let caller = visitor.0.as_ref();
    let viewer = Viewer { lang, caller };
    let reader = caller.map(|c| &c.actor);
    let q = params.q.clone().unwrap_or_default();
    let category = params.category.clone().filter(|c| !c.is_empty());
    let listed = async {
        let after = params.cursor.as_deref().map(uncursor).transpose()?;
        let results = if q.trim().is_empty() {
            app.desk
                .faq_list(reader, category.as_deref(), after, 25)
                .await?
        } else {
            app.desk.faq_search(reader, &q, after, 25).await?
        };
        let categories: Vec<_> = app
            .desk
            .faq_categories(reader)
            .await?
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "short": c.name.rsplit("::").next().unwrap_or(&c.name),
                    "depth": c.name.matches("::").count(),
                })
            })
            .collect();
        let next = results.next.as_ref().map(|k| {
            let mut link = format!("/faq?cursor={}", cursor(k));
            if !q.is_empty() {
                link.push_str(&format!("&q={}", crate::agent::encode(&q)));
            }
            if let Some(c) = &category {
                link.push_str(&format!("&category={}", crate::agent::encode(c)));
            }
            link
        });
        Ok::<_, Problem>((rows(&results.hits), categories, next))
    }
    .await;
    match listed {
        Ok((entries, categories, next)) => viewer.render(
            StatusCode::OK,
            "faq.html",
            context! { nav => "faq", q, category, entries, categories, next, error => None::<String> },
        ),
        Err(p) => viewer.render(
            p.status,
            "faq.html",
            context! { nav => "faq", q, category, entries => Vec::<()>::new(), categories => Vec::<()>::new(), next => None::<String>, error => p.message },
        ),
    }
}

/// `GET /faq/{number}`: one entry, if the reader may see it (404 as for none otherwise).
pub async fn entry(
    State(app): State<App>,
    visitor: Visitor,
    lang: Lang,
    Path(number): Path<String>,
) -> Response {
    let caller = visitor.0.as_ref();
    let viewer = Viewer { lang, caller };
    let found = async {
        let number: u64 = number
            .parse()
            .map_err(|_| Problem::not_found("no such FAQ entry"))?;
        Ok::<_, Problem>(app.desk.faq_entry(caller.map(|c| &c.actor), number).await?)
    }
    .await;
    let entry = match found {
        Ok(e) => e,
        Err(p) => return viewer.refusal(&p),
    };
    let zone = zone(&app).await;
    // Stored HTML was sanitized when written; it is sanitized again here, so an entry from an
    // older desk or another tool cannot carry a script either.
    let html = entry
        .html
        .as_deref()
        .map(|h| Value::from_safe_string(faq::sanitize_html(h)));
    viewer.render(
        StatusCode::OK,
        "faq_entry.html",
        context! {
            nav => "faq",
            entry => json!({
                "number": entry.number,
                "title": entry.title,
                "category": entry.category,
                "state": entry.state,
                "keywords": entry.keywords,
                "text": entry.text,
                "changed": when(entry.changed, zone),
                "attachments": entry.attachments.iter().map(|a| json!({
                    "name": a.name,
                    "size": crate::page::size(a.size),
                    "url": format!("/faq/{}/attachments/{}", entry.number, a.hash.0),
                })).collect::<Vec<_>>(),
            }),
            html,
        },
    )
}

/// `GET /faq/{number}/attachments/{hash}`: an entry's file, as a download.
pub async fn attachment(
    State(app): State<App>,
    visitor: Visitor,
    Path((number, hash)): Path<(String, String)>,
) -> Response {
    let reader = visitor.0.as_ref().map(|c| &c.actor);
    let served = async {
        let number: u64 = number
            .parse()
            .map_err(|_| Problem::not_found("no such FAQ entry"))?;
        let hash = ContentHash(hash);
        let data = app.desk.faq_attachment(reader, number, &hash).await?;
        let entry = app.desk.faq_entry(reader, number).await?;
        let meta = entry
            .attachments
            .iter()
            .find(|a| a.hash == hash)
            .ok_or_else(|| Problem::not_found("no such attachment"))?;
        Ok::<_, Problem>(download(meta, data))
    }
    .await;
    served.unwrap_or_else(IntoResponse::into_response)
}
