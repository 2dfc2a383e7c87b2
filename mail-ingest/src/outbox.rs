//! The outbox is the event log: every `SendAnswer` and `SendAutoReply` event is a mail to
//! send. A dispatcher follows the log with a cursor kept in the store, sends each mail and
//! moves the cursor past it right away, so a restart neither loses a mail nor sends one
//! again. A temporary failure stops the dispatcher at that mail, to be retried with backoff;
//! a permanent one is recorded on the ticket (as a bounce) and passed.

use std::sync::Arc;
use std::time::Duration;

use ticketcore::acl::{Permission, may};
use ticketcore::notify::Reason;
use ticketcore::{Actor, Desk, Event, EventKind, Message, Op, TicketId};

use crate::MailError;
use crate::outbound::{compose, notification};
use crate::transport::{SendError, Transport};

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxReport {
    /// Mails sent.
    pub sent: usize,
    /// Mails refused for good (recorded on their tickets).
    pub failed: usize,
    /// Stopped at a mail that could not be sent yet.
    pub waiting: bool,
}

/// Sends the mail the event log asks for.
#[derive(Debug)]
pub struct Outbox {
    desk: Arc<Desk>,
    transport: Arc<dyn Transport>,
}

impl Outbox {
    /// The outbox's cursor in the store: how far through the event log mail has been sent.
    pub const CONSUMER: &'static str = "outbox";

    /// An outbox sending `desk`'s mail through `transport`; its cursor is the store's
    /// consumer "outbox".
    pub fn new(desk: Arc<Desk>, transport: Arc<dyn Transport>) -> Outbox {
        Outbox { desk, transport }
    }

    /// Sends everything due now; returns at the end of the log or at a temporary failure.
    pub async fn run_once(&self) -> Result<OutboxReport, MailError> {
        let system = &Actor::System;
        let mut report = OutboxReport::default();
        let mut cursor = self.desk.cursor(system, Self::CONSUMER).await?;
        loop {
            let page = self.desk.events_since(system, cursor, 256).await?;
            if page.cursor == cursor {
                break;
            }
            let last = page.cursor;
            for event in page.events {
                let sent = match &event.kind {
                    EventKind::SendAnswer { article, .. }
                    | EventKind::SendAutoReply { article, .. } => {
                        self.send(event.ticket, *article).await?
                    }
                    EventKind::Notify {
                        reason,
                        agents,
                        article,
                    } => self.notify(&event, *reason, agents, *article).await?,
                    _ => continue,
                };
                match sent {
                    Ok(()) => report.sent += 1,
                    Err(SendError::Temporary(reason)) => {
                        tracing::warn!(ticket = %event.number, %reason, "mail not sent yet");
                        let before = event.seq - 1;
                        self.desk
                            .save_cursor(system, Self::CONSUMER, before)
                            .await?;
                        report.waiting = true;
                        return Ok(report);
                    }
                    Err(SendError::Permanent(reason)) => {
                        tracing::warn!(ticket = %event.number, %reason, "mail refused");
                        // A customer's mail that failed is the ticket's business; an agent's
                        // notice is the log's.
                        if !matches!(event.kind, EventKind::Notify { .. }) {
                            self.record_failure(event.ticket, &reason).await?;
                        }
                        report.failed += 1;
                    }
                }
                // Past this mail for good, before the next is sent.
                self.desk
                    .save_cursor(system, Self::CONSUMER, event.seq)
                    .await?;
            }
            cursor = last;
            self.desk
                .save_cursor(system, Self::CONSUMER, cursor)
                .await?;
        }
        Ok(report)
    }

    /// Composes and sends one article; `Err` only for failures of the desk itself.
    async fn send(
        &self,
        ticket: TicketId,
        article: ticketcore::ArticleId,
    ) -> Result<Result<(), SendError>, MailError> {
        let config = self.desk.config().await?;
        let t = match self.desk.ticket(&Actor::System, ticket).await {
            Ok(t) => t,
            Err(ticketcore::Error::NotFound(_)) => {
                let gone = format!("ticket {ticket} is gone");
                return Ok(Err(SendError::Permanent(gone)));
            }
            Err(e) => return Err(e.into()),
        };
        let articles = self.desk.articles(&Actor::System, ticket).await?;
        let Some(a) = articles.iter().find(|a| a.id == article) else {
            return Ok(Err(SendError::Permanent(format!(
                "article {article} is gone"
            ))));
        };
        if a.channel != ticketcore::Channel::Email {
            return Ok(Ok(()));
        }
        let mail = match compose(&self.desk, &config, &t, a).await {
            Ok(mail) => mail,
            Err(MailError::Transport(reason)) => return Ok(Err(SendError::Permanent(reason))),
            Err(e) => return Err(e),
        };
        Ok(self.transport.send(&mail).await)
    }

    /// Mails a notification to each of `agents` (those without an address are skipped). A
    /// temporary failure retries the whole event: agents mailed before it may get it twice,
    /// never not at all.
    async fn notify(
        &self,
        event: &Event,
        reason: Reason,
        agents: &[String],
        article: Option<ticketcore::ArticleId>,
    ) -> Result<Result<(), SendError>, MailError> {
        let config = self.desk.config().await?;
        let system = &Actor::System;
        let ticket = match self.desk.ticket(system, event.ticket).await {
            Ok(t) => t,
            Err(ticketcore::Error::NotFound(_)) => return Ok(Ok(())),
            Err(e) => return Err(e.into()),
        };
        let article = match article {
            Some(id) => {
                let articles = self.desk.articles(system, ticket.id).await?;
                articles.into_iter().find(|a| a.id == id)
            }
            None => None,
        };
        let domain = config
            .system_address(&ticket.queue)
            .and_then(|a| a.rsplit_once('@'))
            .map_or("ticketcore.invalid", |(_, d)| {
                d.trim_end_matches('>').trim()
            });
        for login in agents {
            // Decided at the event; still true when sent? Disabled agents and agents who may
            // no longer read the ticket are not mailed its content.
            let reads = may(&config, &Actor::agent(login), &ticket.queue, Permission::Ro);
            let Some(agent) = config.agent(login).filter(|a| a.valid && reads) else {
                continue;
            };
            let who = &ticketcore::article::ContentHash::of(login.as_bytes()).0[..16];
            let id = format!("notify.{}.{who}@{domain}", event.seq);
            let mail = match notification(
                &config,
                &ticket,
                agent,
                reason,
                &event.actor,
                article.as_ref(),
                id,
            ) {
                Ok(Some(mail)) => mail,
                Ok(None) => continue,
                // No address to send from: nobody can be told by mail.
                Err(MailError::Transport(reason)) => return Ok(Err(SendError::Permanent(reason))),
                Err(e) => return Err(e),
            };
            match self.transport.send(&mail).await {
                Ok(()) => {}
                // This agent's address is refused: the others are still told.
                Err(SendError::Permanent(reason)) => {
                    tracing::warn!(agent = %login, %reason, "notification refused");
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(()))
    }

    async fn record_failure(&self, ticket: TicketId, reason: &str) -> Result<(), MailError> {
        let message = Message::text(format!("The mail could not be sent: {reason}"))
            .with_subject("Mail not sent");
        let op = Op::Bounce {
            article: self.desk.new_article_id(),
            message,
            recipient: String::new(),
        };
        self.desk.apply(&Actor::System, ticket, op).await?;
        Ok(())
    }

    /// Keeps sending until `stop` resolves: follows the event log from the outbox's cursor
    /// (woken by each commit where the store can tell), and after a temporary failure
    /// retries from the failed mail with backoff from one second up to five minutes.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) -> Result<(), MailError> {
        use futures_util::StreamExt;
        tokio::pin!(stop);
        let mut backoff = Duration::from_secs(1);
        loop {
            // What is there first, in pages; then each event as it comes.
            let report = self.run_once().await?;
            if report.waiting {
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(300));
                continue;
            }
            backoff = Duration::from_secs(1);
            let after = self.desk.cursor(&Actor::System, Self::CONSUMER).await?;
            let events = self.desk.follow(Actor::System, after);
            tokio::pin!(events);
            tokio::select! {
                _ = &mut stop => return Ok(()),
                next = events.next() => {
                    if let Some(Err(e)) = next {
                        return Err(e.into());
                    }
                }
            }
        }
    }
}
