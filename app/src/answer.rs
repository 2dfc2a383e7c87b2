//! Answers from templates and one-click actions ([`Macro`]s), for every program that answers
//! customers: the command line, the web desk and bots render templates the same way.

use chrono::Duration;
use ticketcore::config::Macro;
use ticketcore::{Actor, Channel, Committed, Desk, Error, Message, Op, Priority, Ticket};
use ticketcore_mail::template::Variables;

/// The template `name` rendered for `ticket` and its customer, as `actor` sees them.
pub async fn from_template(
    desk: &Desk,
    actor: &Actor,
    ticket: &Ticket,
    name: &str,
) -> Result<Message, Error> {
    let config = desk.config().await?;
    let template = config
        .template(name)
        .ok_or_else(|| Error::NotFound(format!("template {name:?} in the configuration")))?;
    let customer = match &ticket.customer {
        Some(login) => desk.customer(actor, login).await?,
        None => None,
    };
    let (name, email) = customer
        .map(|c| (c.name, c.email))
        .unwrap_or_else(|| (ticket.customer.clone().unwrap_or_default(), String::new()));
    let variables = Variables::of(&config, ticket, &name, &email);
    let mut message = Message::text(variables.render(&template.body));
    message.subject = variables.render(&template.subject);
    Ok(message)
}

/// Runs the one-click action `name` on `ticket` as `actor`: its answer, state, queue and
/// priority in one commit through the Desk, so either all of it happens or none.
pub async fn run_macro(
    desk: &Desk,
    actor: &Actor,
    ticket: &Ticket,
    name: &str,
) -> Result<Committed, Error> {
    let config = desk.config().await?;
    let found: &Macro = config
        .macros
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::NotFound(format!("one-click action {name:?}")))?;
    let mut ops = Vec::new();
    let pending_until = found
        .pending_hours
        .map(|hours| desk.now() + Duration::hours(i64::from(hours)));
    if let Some(template) = &found.reply {
        ops.push(Op::Reply {
            article: desk.new_article_id(),
            message: from_template(desk, actor, ticket, template).await?,
            channel: Channel::Email,
            next_state: None,
            faq: None,
        });
    }
    if let Some(queue) = &found.queue {
        ops.push(Op::Move {
            queue: queue.clone(),
        });
    }
    if let Some(priority) = found.priority {
        ops.push(Op::SetPriority {
            priority: Priority::new(priority).map_err(|e| Error::Invalid(e.to_string()))?,
        });
    }
    if let Some(state) = &found.state {
        ops.push(Op::SetState {
            state: state.clone(),
            pending_until,
        });
    }
    desk.apply_all(actor, ticket.id, &ops).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::Arc;
    use ticketcore::StateType;

    #[tokio::test]
    async fn a_macro_answers_and_changes_in_one_commit() {
        let (desk, _) = crate::demo::make(Arc::new(ticketcore::MemoryStore::new()))
            .await
            .unwrap();
        let anna = Actor::Agent("anna".into());
        let config = desk.config().await.unwrap();
        let verify = config.macros.first().expect("the demo desk has a macro");
        let page = desk.queue_view(&anna, Default::default()).await.unwrap();
        let ticket = page
            .tickets
            .iter()
            .find(|t| !t.state_type.is_closed() && t.lock.holder().is_none())
            .unwrap()
            .clone();
        let before = desk.history(&anna, ticket.id).await.unwrap().len();
        let committed = run_macro(&desk, &anna, &ticket, &verify.name)
            .await
            .unwrap();
        let after = &committed.ticket;
        if let Some(state) = &verify.state {
            assert_eq!(&after.state, state);
        }
        if let Some(queue) = &verify.queue {
            assert_eq!(&after.queue, queue);
        }
        assert_eq!(after.state_type, StateType::PendingReminder);
        assert!(after.pending_until.is_some());
        let articles = desk.articles(&anna, ticket.id).await.unwrap();
        let answer = articles.last().unwrap();
        let template = verify.reply.as_deref().unwrap();
        let expected = from_template(&desk, &anna, &ticket, template)
            .await
            .unwrap();
        assert_eq!(answer.body, expected.body);
        assert!(answer.body.contains(&ticket.number.to_string()));
        assert!(desk.history(&anna, ticket.id).await.unwrap().len() > before);
        // One commit: the answer and the state change came back together.
        let kinds: Vec<&str> = committed
            .events
            .iter()
            .map(|e| e.kind.history_type())
            .collect();
        assert!(
            kinds.contains(&"SendAnswer") && kinds.contains(&"StateUpdate"),
            "{kinds:?}"
        );
        assert!(matches!(
            run_macro(&desk, &anna, &ticket, "no such macro").await,
            Err(Error::NotFound(_))
        ));
    }
}
