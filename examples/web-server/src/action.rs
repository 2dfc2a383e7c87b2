//! What may be done to a ticket, once for the JSON API and the HTML forms alike: both name
//! the action (`lock`, `notes`, `replies`, ...) and give the same fields.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use ticketcore::article::NewAttachment;
use ticketcore::{
    Actor, ArticleId, Channel, Committed, Desk, LinkKind, Message, Op, Priority, Ticket,
};
use utoipa::ToSchema;

use crate::Problem;
use crate::form::Form;

/// What an action's body may say; each action reads its own fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ActionBody {
    text: Option<String>,
    subject: Option<String>,
    visible_to_customer: bool,
    notify: Vec<String>,
    queue: Option<String>,
    state: Option<String>,
    pending_until: Option<DateTime<Utc>>,
    priority: Option<u8>,
    owner: Option<String>,
    into: Option<String>,
    #[schema(value_type = Option<String>)]
    article: Option<ArticleId>,
    title: Option<String>,
    other: Option<String>,
    #[schema(value_type = Option<String>)]
    kind: Option<LinkKind>,
    watch: Option<bool>,
    /// The one-click action a `macro` runs.
    name: Option<String>,
    /// Files a form attached to a reply or note.
    #[serde(skip)]
    #[schema(ignore)]
    attachments: Vec<NewAttachment>,
}

impl ActionBody {
    /// The fields of an HTML form; a pending time is read in the desk's time `zone`.
    pub fn from_form(form: Form, zone: chrono_tz::Tz) -> Result<ActionBody, Problem> {
        let invalid =
            |field: &str, e: &dyn std::fmt::Display| Problem::invalid(format!("{field}: {e}"));
        let text = |name: &str| form.get(name).map(str::to_string);
        let pending_until = match form.get("pending_until") {
            Some(local) => {
                let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
                    .map_err(|e| invalid("pending until", &e))?;
                let at = zone
                    .from_local_datetime(&naive)
                    .earliest()
                    .ok_or_else(|| invalid("pending until", &"no such local time"))?;
                Some(at.with_timezone(&Utc))
            }
            None => None,
        };
        let priority = form
            .get("priority")
            .map(|p| p.parse::<u8>().map_err(|e| invalid("priority", &e)))
            .transpose()?;
        let article = form
            .get("article")
            .map(|a| {
                a.parse::<uuid::Uuid>()
                    .map(ArticleId)
                    .map_err(|e| invalid("article", &e))
            })
            .transpose()?;
        let kind = form
            .get("kind")
            .map(|k| {
                serde_json::from_value::<LinkKind>(serde_json::Value::String(k.into()))
                    .map_err(|e| invalid("kind", &e))
            })
            .transpose()?;
        let truthy = |name: &str| form.get(name).map(|v| matches!(v, "on" | "true" | "1"));
        Ok(ActionBody {
            text: text("text"),
            subject: text("subject"),
            visible_to_customer: truthy("visible_to_customer").unwrap_or(false),
            notify: form.all("notify"),
            queue: text("queue"),
            state: text("state"),
            pending_until,
            priority,
            owner: text("owner"),
            into: text("into"),
            article,
            title: text("title"),
            other: text("other"),
            kind,
            watch: truthy("watch"),
            name: text("name"),
            attachments: form.files,
        })
    }
}

fn need<T>(value: Option<T>, field: &str, action: &str) -> Result<T, Problem> {
    value.ok_or_else(|| Problem::invalid(format!("{action} needs \"{field}\"")))
}

/// A ticket not found, not the caller's to see, or with a malformed number: one 404 with
/// one message, so a guess learns nothing about which tickets exist or the number format.
pub fn hide(e: ticketcore::Error) -> Problem {
    match e {
        ticketcore::Error::Number(_) | ticketcore::Error::NotFound(_) => {
            Problem::not_found("no such ticket")
        }
        e => e.into(),
    }
}

/// Does `action` to `ticket` as `actor`, through the Desk.
pub async fn perform(
    desk: &Desk,
    actor: &Actor,
    ticket: &Ticket,
    action: &str,
    body: ActionBody,
) -> Result<Committed, Problem> {
    let id = ticket.id;
    let a = action;
    let message = |text: Option<String>, subject: Option<String>, files: Vec<NewAttachment>| {
        need(text, "text", a).map(|text| {
            let mut message = Message::text(text);
            message.subject = subject.unwrap_or_default();
            message.attachments = files;
            message
        })
    };
    Ok(match a {
        "lock" => desk.lock(actor, id).await?,
        "unlock" => desk.unlock(actor, id).await?,
        "notes" => {
            let note = message(body.text, body.subject, body.attachments)?;
            let notify: Vec<&str> = body.notify.iter().map(String::as_str).collect();
            desk.note(actor, id, note, body.visible_to_customer, &notify)
                .await?
        }
        "replies" => {
            let answer = message(body.text, body.subject, body.attachments)?;
            match actor {
                // A customer's reply on their own ticket is a follow-up from the web.
                Actor::Customer(_) => {
                    desk.follow_up(actor, id, answer, Channel::Web, false)
                        .await?
                        .committed
                }
                _ => desk.reply(actor, id, answer).await?,
            }
        }
        "move" => {
            desk.move_ticket(actor, id, &need(body.queue, "queue", a)?)
                .await?
        }
        "state" => {
            let state = need(body.state, "state", a)?;
            desk.set_state(actor, id, &state, body.pending_until)
                .await?
        }
        "priority" => {
            let priority = Priority::new(need(body.priority, "priority", a)?)
                .map_err(|e| Problem::invalid(e.to_string()))?;
            desk.set_priority(actor, id, priority).await?
        }
        "owner" => desk.set_owner(actor, id, body.owner.as_deref()).await?,
        "merge" => {
            let into = desk
                .find(actor, &need(body.into, "into", a)?)
                .await
                .map_err(hide)?;
            desk.merge(actor, id, into.id).await?
        }
        "split" => {
            let article = need(body.article, "article", a)?;
            let queue = body.queue.unwrap_or_else(|| ticket.queue.clone());
            desk.split(actor, id, article, &queue, body.title.as_deref())
                .await?
        }
        "links" => {
            let other = desk
                .find(actor, &need(body.other, "other", a)?)
                .await
                .map_err(hide)?;
            let kind = body.kind.unwrap_or(LinkKind::Normal);
            desk.link(actor, id, other.id, kind).await?
        }
        "watch" => {
            let op = if body.watch.unwrap_or(true) {
                Op::Watch
            } else {
                Op::Unwatch
            };
            desk.apply(actor, id, op).await?
        }
        "macro" => {
            let name = need(body.name, "name", a)?;
            ticketcore_app::answer::run_macro(desk, actor, ticket, &name).await?
        }
        _ => return Err(Problem::not_found(format!("no action {action:?}"))),
    })
}
