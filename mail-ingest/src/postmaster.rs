//! The PostMaster: one incoming message through the whole pipeline. Parse, drop duplicates,
//! attach bounces to the ticket whose mail bounced, run the filters, find the ticket it
//! continues (or route it to a queue and open one), and answer automatically where the queue
//! wants it and loop protection allows. Everything it records goes through the Desk, so the
//! rules, permissions and event log are the same as for any other client.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use ticketcore::{
    Actor, Channel, Committed, Config, Desk, FollowUpAction, Message, NewTicket, Op, Priority,
    Quota, Sender, StoreError, Ticket, TicketNumber, UnknownSender,
};

use ticketcore::config::ForeignBounces;

use crate::MailError;
use crate::autoreply::{suppressed, system_addresses};
use crate::filter::{Filtered, Filters};
use crate::followup::{Clue, known_sender, thread};
use crate::inbound::Inbound;
use crate::template::Variables;

/// What became of a message (the `ticketctl ingest --json` contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new ticket was opened.
    Created,
    /// It was added to an existing ticket (a bounce report too).
    FollowUp,
    /// Recorded on a closed ticket whose queue rejects follow-ups, or refused as unroutable.
    Rejected,
    /// Dropped by a filter, or a bounce about no mail of ours with `foreign_bounces = "ignore"`.
    Ignored,
    /// Already taken in earlier (same Message-ID, or same content without one).
    Duplicate,
}

/// The result of delivering one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// What became of it.
    pub outcome: Outcome,
    /// The ticket it went to.
    pub ticket: Option<TicketNumber>,
    /// That ticket's queue.
    pub queue: Option<String>,
    /// Why, where the outcome needs explaining.
    pub reason: Option<String>,
    /// Whether an auto-response was queued for sending.
    pub auto_response: bool,
}

impl Delivery {
    fn to(outcome: Outcome, ticket: &Ticket) -> Delivery {
        Delivery {
            outcome,
            ticket: Some(ticket.number.clone()),
            queue: Some(ticket.queue.clone()),
            reason: None,
            auto_response: false,
        }
    }

    fn without_ticket(outcome: Outcome, reason: String) -> Delivery {
        Delivery {
            outcome,
            ticket: None,
            queue: None,
            reason: Some(reason),
            auto_response: false,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Delivery {
        self.reason = Some(reason.into());
        self
    }
}

/// Which auto-response of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Response {
    NewTicket,
    FollowUp,
    Reject,
}

impl Response {
    /// The auto-response for what a follow-up did.
    fn to(action: FollowUpAction) -> Response {
        match action {
            FollowUpAction::Append | FollowUpAction::Reopen => Response::FollowUp,
            FollowUpAction::Reject => Response::Reject,
            FollowUpAction::NewTicket => Response::NewTicket,
        }
    }
}

/// Takes mail into a desk.
#[derive(Debug)]
pub struct Postmaster {
    desk: Arc<Desk>,
    /// Filters compiled for the configuration they came from.
    filters: Mutex<Option<(Arc<Config>, Arc<Filters>)>>,
}

impl Postmaster {
    /// A PostMaster delivering into `desk`.
    pub fn new(desk: Arc<Desk>) -> Postmaster {
        Postmaster {
            desk,
            filters: Mutex::new(None),
        }
    }

    /// The desk it delivers into.
    pub fn desk(&self) -> &Arc<Desk> {
        &self.desk
    }

    fn filters(&self, config: &Arc<Config>) -> Result<Arc<Filters>, MailError> {
        let mut cache = self.filters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((for_config, filters)) = cache.as_ref()
            && Arc::ptr_eq(for_config, config)
        {
            return Ok(filters.clone());
        }
        let filters = Arc::new(Filters::compile(config)?);
        *cache = Some((config.clone(), filters.clone()));
        Ok(filters)
    }

    /// Delivers one raw message. Errors are for mail that cannot be taken in at all (too
    /// large, not a message: permanent) and for failures worth retrying (storage: see
    /// [`MailError::is_temporary`]); everything else is a [`Delivery`].
    pub async fn deliver(&self, raw: &[u8]) -> Result<Delivery, MailError> {
        let config = self.desk.config().await?;
        let mail = Inbound::parse(raw, config.mail.max_message_size)?;
        self.take(&config, &mail).await
    }

    /// Delivers a message parsed beforehand (with the size limit then in force), as
    /// [`deliver`](Self::deliver) does after parsing: a bulk import parses each message as
    /// it reads it, to see which others it answers.
    pub async fn deliver_parsed(&self, mail: &Inbound) -> Result<Delivery, MailError> {
        let config = self.desk.config().await?;
        self.take(&config, mail).await
    }

    /// Everything of a delivery after parsing.
    async fn take(&self, config: &Arc<Config>, mail: &Inbound) -> Result<Delivery, MailError> {
        let identity = mail.identity();
        if let Some(duplicate) = self.taken_in(&identity).await? {
            return Ok(duplicate);
        }
        // Our own automatic mail (an agent notification sent to an address that leads back
        // here, an auto-response bounced back whole) would make a ticket that notifies again.
        if let Some(looped) = mail.header("X-Loop").map(str::to_lowercase)
            && system_addresses(config)
                .iter()
                .any(|a| looped.contains(a.as_str()))
        {
            return Ok(Delivery::without_ticket(
                Outcome::Ignored,
                format!("our own automatic mail came back (X-Loop: {looped})"),
            ));
        }
        // Boxed, as the follow-up below: the state of the rarer paths would otherwise
        // enlarge every delivery's, which a bulk import holds hundreds of at once.
        if mail.report.is_some() {
            return Box::pin(self.bounce(config, mail)).await;
        }
        let filtered = self.filters(config)?.apply(mail);
        if let Some(name) = &filtered.dropped_by {
            tracing::info!(message = %identity, filter = %name, "mail dropped by filter");
            return Ok(Delivery::without_ticket(
                Outcome::Ignored,
                format!("dropped by filter {name:?}"),
            ));
        }
        let result = match thread(&self.desk, config, mail).await? {
            Some((ticket, clue)) => {
                Box::pin(self.follow_up(config, mail, &filtered, ticket, clue)).await
            }
            None => self.create(config, mail, &filtered, None).await,
        };
        match result {
            // Delivered concurrently by someone else: the first one counts.
            Err(MailError::Desk(ticketcore::Error::Store(StoreError::Duplicate(_)))) => Ok(self
                .taken_in(&identity)
                .await?
                .unwrap_or_else(|| Delivery::without_ticket(Outcome::Duplicate, identity))),
            other => other,
        }
    }

    /// The delivery of a message taken in before, found by its identity.
    async fn taken_in(&self, identity: &str) -> Result<Option<Delivery>, MailError> {
        let found = self
            .desk
            .article_by_message_id(&Actor::System, identity)
            .await?;
        Ok(found.map(|(_, t)| Delivery::to(Outcome::Duplicate, &t)))
    }

    /// The article content of an incoming message.
    fn message(mail: &Inbound) -> Message {
        let mut message = Message::text(mail.body.clone());
        message.from = mail.from.as_ref().map(|m| m.display()).unwrap_or_default();
        message.to = mail.to.clone();
        message.cc = mail.cc.clone();
        message.subject = mail.subject.clone();
        message.body_html = mail.body_html.clone();
        message.message_id = Some(mail.identity());
        message.in_reply_to = mail.in_reply_to.first().cloned();
        message.references = mail.references.clone();
        message.attachments = mail.attachments.clone();
        message
    }

    async fn create(
        &self,
        config: &Arc<Config>,
        mail: &Inbound,
        filtered: &Filtered,
        reason: Option<String>,
    ) -> Result<Delivery, MailError> {
        let Some(queue) = filtered.set.queue.clone().or_else(|| route(config, mail)) else {
            return Ok(Delivery::without_ticket(
                Outcome::Rejected,
                format!(
                    "no queue has any of the addresses {:?} and [mail] default_queue is not set",
                    mail.recipients
                ),
            ));
        };
        let sender = mail.sender_address();
        let (customer, company, name) = match &filtered.set.customer {
            Some(login) => (Some(login.clone()), None, None),
            None => match &sender {
                Some(address) => {
                    match self.desk.customer_by_email(&Actor::System, address).await? {
                        Some(c) => (Some(c.login), c.company, Some(c.name)),
                        None => (Some(address.clone()), None, None),
                    }
                }
                None => (None, None, None),
            },
        };
        let title = filtered.set.title.clone().unwrap_or_else(|| {
            if mail.subject.is_empty() {
                "(no subject)".into()
            } else {
                mail.subject.clone()
            }
        });
        let priority = match filtered.set.priority {
            Some(p) => Some(Priority::new(p)?),
            None => None,
        };
        let answer = self
            .answer(
                config,
                mail,
                &queue,
                Recipient::new(customer.as_deref(), name),
                Response::NewTicket,
            )
            .await?;
        // Built again for the rare retry without the answer, rather than copied (with its
        // body and attachments) for every message in case of one.
        let input = || {
            let mut input = NewTicket::new(&queue, &title, Channel::Email, Self::message(mail));
            input.sender = Sender::Customer;
            input.customer = customer.clone();
            input.customer_company = company.clone();
            input.state = filtered.set.state.clone();
            input.priority = priority;
            input
        };
        let first = self
            .desk
            .create_ticket_then(&Actor::System, input(), |config, ticket| {
                answer.as_ref().map(|a| a.op(config, ticket))
            })
            .await;
        let created = match first {
            // The sender's last auto-response of the day went to a concurrent delivery.
            Err(ticketcore::Error::Store(StoreError::QuotaExhausted(_))) if answer.is_some() => (
                self.desk.create_ticket(&Actor::System, input()).await?,
                false,
            ),
            other => (other?, answer.is_some()),
        };
        let mut delivery = Delivery::to(Outcome::Created, &created.0.ticket);
        delivery.reason = reason;
        delivery.auto_response = created.1;
        Ok(delivery)
    }

    async fn follow_up(
        &self,
        config: &Arc<Config>,
        mail: &Inbound,
        filtered: &Filtered,
        ticket: Ticket,
        clue: Clue,
    ) -> Result<Delivery, MailError> {
        // A reply to one of our Message-IDs comes from someone we wrote to; a bare number
        // may have been guessed or forwarded.
        let unknown = match (clue, mail.sender_address()) {
            (Clue::Reference, _) => false,
            (_, Some(sender)) => !known_sender(&self.desk, &ticket, &sender).await?,
            (_, None) => true,
        };
        if unknown && config.mail.unknown_sender == UnknownSender::NewTicket {
            let reason = format!(
                "sender is not on ticket {}; opened a new ticket ([mail] unknown_sender)",
                ticket.number
            );
            return self.create(config, mail, filtered, Some(reason)).await;
        }
        // The auto-response goes into the follow-up's own commit: decided for what the
        // queue's policy will most likely do, and answered separately in the rare case a
        // concurrent change made it do something else.
        let predicted = Response::to(ticketcore::rules::follow_up_action(config, &ticket));
        let answer = self
            .answer(
                config,
                mail,
                &ticket.queue,
                Recipient::new(ticket.customer.as_deref(), None),
                predicted,
            )
            .await?;
        let id = ticket.id;
        let first = self
            .append(id, mail, unknown, answer.as_ref(), predicted)
            .await;
        let (followed, answered) = match first {
            // The sender's last auto-response of the day went to a concurrent delivery.
            Err(ticketcore::Error::Store(StoreError::QuotaExhausted(_))) => (
                self.append(id, mail, unknown, None, predicted).await?,
                Some(false),
            ),
            Err(e) => return Err(e.into()),
            Ok(f) if Response::to(f.action) == predicted => (f, Some(answer.is_some())),
            Ok(f) => (f, None),
        };
        let action = followed.action;
        let Committed { ticket, .. } = followed.committed;
        let response = Response::to(action);
        let (outcome, reason) = match action {
            FollowUpAction::Append | FollowUpAction::Reopen => (Outcome::FollowUp, None),
            FollowUpAction::Reject => (
                Outcome::Rejected,
                Some(format!(
                    "ticket {} is closed and its queue rejects follow-ups",
                    ticket.number
                )),
            ),
            FollowUpAction::NewTicket => (
                Outcome::Created,
                Some("follow-up to a closed ticket: a new ticket, linked to it".into()),
            ),
        };
        let mut delivery = Delivery::to(outcome, &ticket);
        delivery.reason = match (reason, unknown) {
            (Some(r), _) => Some(r),
            (None, true) => Some("sender is not on the ticket (flagged)".into()),
            (None, false) => None,
        };
        delivery.auto_response = match answered {
            Some(answered) => answered,
            None => self.respond(config, mail, &ticket, response).await?,
        };
        Ok(delivery)
    }

    /// Adds `mail` to ticket `id` with, in the same commit, `answer` if the queue's policy
    /// does what it was `predicted` for.
    async fn append(
        &self,
        id: ticketcore::TicketId,
        mail: &Inbound,
        unknown: bool,
        answer: Option<&Answer>,
        predicted: Response,
    ) -> Result<ticketcore::FollowedUp, ticketcore::Error> {
        self.desk
            .follow_up_then(
                &Actor::System,
                id,
                Self::message(mail),
                Channel::Email,
                unknown,
                |config, action, t| {
                    answer
                        .filter(|_| Response::to(action) == predicted)
                        .map(|a| a.op(config, t))
                },
            )
            .await
    }

    /// A delivery-status report: recorded on the ticket whose mail bounced, never answered.
    /// One about no mail of this desk becomes a ticket of its own in the default queue,
    /// marked as a bounce (or, with `[mail] foreign_bounces = "ignore"`, is dropped with
    /// its reason).
    async fn bounce(&self, config: &Config, mail: &Inbound) -> Result<Delivery, MailError> {
        let system = &Actor::System;
        let report = mail.report.clone().unwrap_or_default();
        let mut ticket = None;
        let ids = report
            .original_message_id
            .iter()
            .chain(&mail.in_reply_to)
            .chain(mail.references.iter().rev());
        for id in ids {
            if let Some((_, found)) = self.desk.article_by_message_id(system, id).await? {
                ticket = Some(found);
                break;
            }
        }
        if ticket.is_none()
            && let Some(number) = config.numbers.find_in_subject(&mail.subject)
        {
            ticket = self.desk.ticket_by_number(system, &number).await?;
        }
        let recipient = report.recipient.clone().unwrap_or_default();
        let status = report.status.clone().unwrap_or_default();
        let Some(ticket) = ticket else {
            return self.foreign_bounce(config, mail, recipient).await;
        };
        let op = Op::Bounce {
            article: self.desk.new_article_id(),
            message: Self::message(mail),
            recipient: recipient.clone(),
        };
        let committed = self.desk.apply(&Actor::System, ticket.id, op).await?;
        Ok(
            Delivery::to(Outcome::FollowUp, &committed.ticket).because(format!(
                "delivery-status report: {} {status} for {recipient}",
                report.action.as_deref().unwrap_or("failed")
            )),
        )
    }

    /// A bounce about no mail of this desk: a ticket in the default queue whose history says
    /// it is a bounce, without a customer and without an answer; or dropped, if so configured.
    async fn foreign_bounce(
        &self,
        config: &Config,
        mail: &Inbound,
        recipient: String,
    ) -> Result<Delivery, MailError> {
        let why = "delivery-status report about no mail of this desk";
        let queue = match (config.mail.foreign_bounces, &config.mail.default_queue) {
            (ForeignBounces::Ticket, Some(queue)) => queue.clone(),
            (ForeignBounces::Ignore, _) => {
                return Ok(Delivery::without_ticket(
                    Outcome::Ignored,
                    format!("{why} ([mail] foreign_bounces = \"ignore\")"),
                ));
            }
            (ForeignBounces::Ticket, None) => {
                return Ok(Delivery::without_ticket(
                    Outcome::Ignored,
                    format!("{why}; no [mail] default_queue to file it in"),
                ));
            }
        };
        let title = match mail.subject.is_empty() {
            true => "(bounce)".to_string(),
            false => mail.subject.clone(),
        };
        let mut input = NewTicket::new(&queue, &title, Channel::Email, Self::message(mail));
        input.sender = Sender::System;
        let note = format!("{why}: {recipient}");
        let article = self.desk.new_article_id();
        let created = self
            .desk
            .create_ticket_then(&Actor::System, input, |_, _| {
                Some(Op::Bounce {
                    article,
                    message: Message::text(note.clone()),
                    recipient: recipient.clone(),
                })
            })
            .await?;
        Ok(Delivery::to(Outcome::Created, &created.ticket)
            .because(format!("{why}: filed as a bounce")))
    }

    /// Queues the queue's auto-response of kind `response` for `mail` on an existing ticket,
    /// unless loop protection or the per-sender daily limit forbids it. Returns whether one
    /// was queued.
    async fn respond(
        &self,
        config: &Config,
        mail: &Inbound,
        ticket: &Ticket,
        response: Response,
    ) -> Result<bool, MailError> {
        let Some(answer) = self
            .answer(
                config,
                mail,
                &ticket.queue,
                Recipient::new(ticket.customer.as_deref(), None),
                response,
            )
            .await?
        else {
            return Ok(false);
        };
        let op = answer.op(config, ticket);
        match self.desk.apply(&Actor::System, ticket.id, op).await {
            Ok(_) => Ok(true),
            // The sender's last auto-response of the day went to a concurrent delivery.
            Err(ticketcore::Error::Store(StoreError::QuotaExhausted(_))) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Decides on the auto-response of kind `response` from `queue` to `mail`: none without a
    /// template, for mail from machines or loops, or past the sender's daily limit (counted in
    /// the store, so the limit holds across processes).
    async fn answer(
        &self,
        config: &Config,
        mail: &Inbound,
        queue: &str,
        customer: Recipient<'_>,
        response: Response,
    ) -> Result<Option<Answer>, MailError> {
        let Some(q) = config.queue(queue) else {
            return Ok(None);
        };
        let name = match response {
            Response::NewTicket => &q.auto_response.new_ticket,
            Response::FollowUp => &q.auto_response.follow_up,
            Response::Reject => &q.auto_response.reject,
        };
        let Some(template) = name.as_deref().and_then(|n| config.template(n)) else {
            return Ok(None);
        };
        if let Some(reason) = suppressed(mail, &system_addresses(config)) {
            tracing::info!(%queue, %reason, "no auto-response");
            return Ok(None);
        }
        let Some(to) = mail.reply_to.clone() else {
            return Ok(None);
        };
        let today = self.desk.now().format("%Y-%m-%d");
        let key = format!("auto-response:{}:{today}", to.address.to_lowercase());
        // Counted by the answer's own commit, which the store refuses past the limit (a
        // concurrent delivery may take the last unit between this read and that commit).
        let limit = u64::from(config.mail.auto_responses_per_sender_per_day);
        if self.desk.counter(&key).await? >= limit {
            tracing::info!(%queue, to = %to.address, "auto-response limit reached");
            return Ok(None);
        }
        let customer_name = match customer {
            Recipient {
                name: Some(name), ..
            } => Some(name),
            Recipient {
                login: Some(login), ..
            } => self
                .desk
                .customer(&Actor::System, login)
                .await?
                .map(|c| c.name),
            Recipient { .. } => None,
        }
        .unwrap_or_else(|| to.name.clone().unwrap_or_else(|| to.address.clone()));
        Ok(Some(Answer {
            quota: Quota { key, limit },
            subject: template.subject.clone(),
            body: template.body.clone(),
            to,
            customer_name,
            article: self.desk.new_article_id(),
            in_reply_to: mail.message_id.clone(),
            references: mail
                .references
                .iter()
                .cloned()
                .chain(mail.message_id.clone())
                .collect(),
        }))
    }
}

/// Whom an auto-response addresses: the ticket's customer login, and their name when the
/// caller has already read it (saving the answer a lookup).
struct Recipient<'a> {
    login: Option<&'a str>,
    name: Option<String>,
}

impl<'a> Recipient<'a> {
    fn new(login: Option<&'a str>, name: Option<String>) -> Recipient<'a> {
        Recipient { login, name }
    }
}

/// An auto-response decided on, to be written for its ticket (which may not exist yet: a new
/// ticket and its receipt are committed together).
#[derive(Debug)]
struct Answer {
    quota: Quota,
    subject: String,
    body: String,
    to: crate::inbound::Mailbox,
    customer_name: String,
    article: ticketcore::ArticleId,
    in_reply_to: Option<String>,
    references: Vec<String>,
}

impl Answer {
    /// The auto-reply operation for `ticket`: the template rendered, the hook in the subject.
    fn op(&self, config: &Config, ticket: &Ticket) -> Op {
        let vars = Variables::of(config, ticket, &self.customer_name, &self.to.address);
        let mut subject = vars.render(&self.subject);
        let tag = config.numbers.subject_tag(&ticket.number);
        if !subject.contains(&tag) {
            subject = format!("[{tag}] {subject}");
        }
        let mut message = Message::text(vars.render(&self.body)).with_subject(subject);
        message.to = self.to.display();
        message.from = config
            .system_address(&ticket.queue)
            .map(|a| format!("{} <{a}>", ticket.queue))
            .unwrap_or_default();
        message.message_id = Some(ticketcore::rules::message_id(
            config,
            &ticket.queue,
            self.article,
        ));
        message.in_reply_to = self.in_reply_to.clone();
        message.references = self.references.clone();
        Op::AutoReply {
            article: self.article,
            message,
            quota: Some(self.quota.clone()),
        }
    }
}

/// The queue whose system address the mail was sent to (recipients in routing order), else
/// the default queue.
pub fn route(config: &Config, mail: &Inbound) -> Option<String> {
    mail.recipients
        .iter()
        .find_map(|r| {
            config.queues.iter().find(|q| {
                q.address
                    .as_deref()
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case(r.trim()))
            })
        })
        .map(|q| q.name.clone())
        .or_else(|| config.mail.default_queue.clone())
}
