//! Who should hear of an event: the agents a notifier (mail, chat bot, web push) sends it to.
//! A pure function of configuration, ticket and event, so every consumer of the event log
//! notifies the same people.

use std::collections::BTreeSet;

use crate::acl::{Permission, may};
use crate::config::Config;
use crate::event::{Actor, Event, EventKind};
use crate::ticket::Ticket;

/// The agents to notify of `event` on `ticket` (as it is after the event), without the agent
/// who caused it:
/// - new tickets, and moves, go to every valid agent who may read the (new) queue;
/// - customer follow-ups go to the owner of a locked ticket, else to the queue's readers;
/// - notes go to the agents named in them;
/// - reminders and escalations go to owner and responsible, else to the queue's readers;
/// - watchers hear of everything.
pub fn recipients(config: &Config, ticket: &Ticket, event: &Event) -> BTreeSet<String> {
    // Only valid agents who may read the ticket's queue hear anything (`may` knows no invalid
    // agent); owners, holders, watchers and named agents included.
    let reads = |login: &str| may(config, &Actor::agent(login), &ticket.queue, Permission::Ro);
    let readers = || -> BTreeSet<String> {
        config
            .agents
            .iter()
            .filter(|a| a.valid && reads(&a.login))
            .map(|a| a.login.clone())
            .collect()
    };
    let owners = || -> BTreeSet<String> {
        ticket
            .owner
            .iter()
            .chain(&ticket.responsible)
            .filter(|l| reads(l))
            .cloned()
            .collect()
    };
    let mut to: BTreeSet<String> = match &event.kind {
        EventKind::NewTicket { .. } | EventKind::Move { .. } => readers(),
        EventKind::FollowUp { .. } | EventKind::FollowUpRejected { .. } => {
            match ticket.lock.holder().filter(|h| reads(h)) {
                Some(holder) => BTreeSet::from([holder.to_string()]),
                None => readers(),
            }
        }
        EventKind::AddNote { notify, .. } => notify.iter().filter(|l| reads(l)).cloned().collect(),
        EventKind::Reminder { .. }
        | EventKind::EscalationWarning { .. }
        | EventKind::Escalation { .. } => {
            let o = owners();
            if o.is_empty() { readers() } else { o }
        }
        _ => BTreeSet::new(),
    };
    to.extend(ticket.watchers.iter().filter(|l| reads(l)).cloned());
    if let Some(author) = event.actor.agent_login() {
        to.remove(author);
    }
    to
}
