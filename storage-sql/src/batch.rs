//! Planning a batch of changes: what the database already holds for the tickets, numbers and
//! Message-IDs a batch touches is read with one statement per kind, then every change is
//! checked against it (and against the changes before it in the batch) in memory. What passes
//! is written with one multi-row statement per table, so a batch of a thousand tickets costs a
//! handful of round trips instead of thousands.

use std::collections::{BTreeSet, HashMap, HashSet};

use ticketcore::article::Blob;
use ticketcore::store::Unique;
use ticketcore::{Article, Change, Event, SearchUpdate, StoreError, StoreResult, Ticket, TicketId};

/// What the database holds for the keys a batch touches.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Stored tickets among those written: version and number.
    pub tickets: HashMap<TicketId, (u64, String)>,
    /// Taken ticket numbers among those of new tickets.
    pub numbers: HashSet<String>,
    /// Taken Message-IDs among those of new articles.
    pub message_ids: HashSet<String>,
    /// The last article position of stored tickets that get articles.
    pub positions: HashMap<TicketId, i64>,
}

/// The rows a batch writes, and each change's outcome.
#[derive(Debug, Default)]
pub(crate) struct Plan<'a> {
    /// New tickets.
    pub inserts: Vec<&'a Ticket>,
    /// Updated tickets with the version they must still have.
    pub updates: Vec<(&'a Ticket, u64)>,
    /// Articles with their ticket and position.
    pub articles: Vec<(TicketId, i64, &'a Article)>,
    /// Attachment bytes, once per hash.
    pub blobs: Vec<&'a Blob>,
    /// Queues that hold tickets.
    pub queues: BTreeSet<&'a str>,
    /// Search terms to write: one update per ticket, in order of first appearance.
    pub search: Vec<(TicketId, SearchUpdate)>,
    /// Statistics tallies to add, summed per counter (in key order, zero sums left out).
    pub tallies: std::collections::BTreeMap<String, i64>,
    /// Per change: its events, or why it was refused.
    pub outcomes: Vec<StoreResult<Vec<Event>>>,
}

/// The keys a batch touches, for reading [`Known`].
#[derive(Debug, Default)]
pub(crate) struct Keys {
    /// Every written ticket.
    pub tickets: Vec<TicketId>,
    /// Numbers of tickets the batch creates.
    pub numbers: Vec<String>,
    /// Message-IDs of the articles the batch appends.
    pub message_ids: Vec<String>,
    /// Tickets that get articles.
    pub with_articles: Vec<TicketId>,
}

impl Keys {
    pub(crate) fn of(changes: &[Change]) -> Keys {
        let mut keys = Keys::default();
        for w in changes.iter().flat_map(|c| &c.writes) {
            keys.tickets.push(w.ticket.id);
            if w.expected_version.is_none() {
                keys.numbers.push(w.ticket.number.to_string());
            }
            keys.message_ids
                .extend(w.articles.iter().filter_map(|a| a.message_id.clone()));
            if !w.articles.is_empty() {
                keys.with_articles.push(w.ticket.id);
            }
        }
        for list in [&mut keys.numbers, &mut keys.message_ids] {
            list.sort_unstable();
            list.dedup();
        }
        for list in [&mut keys.tickets, &mut keys.with_articles] {
            list.sort_unstable();
            list.dedup();
        }
        keys
    }
}

/// What one change adds to [`Known`] once all of its writes pass.
#[derive(Default)]
struct Staged {
    tickets: HashMap<TicketId, (u64, String)>,
    numbers: HashSet<String>,
    message_ids: HashSet<String>,
    positions: HashMap<TicketId, i64>,
    /// The position of each of the change's articles, in order.
    article_positions: Vec<i64>,
}

impl Known {
    fn ticket(&self, staged: &Staged, id: TicketId) -> Option<(u64, String)> {
        staged
            .tickets
            .get(&id)
            .or_else(|| self.tickets.get(&id))
            .cloned()
    }

    /// Checks one change; on success returns what it adds.
    fn check(&self, change: &Change) -> StoreResult<Staged> {
        let mut staged = Staged::default();
        for w in &change.writes {
            let t = &w.ticket;
            let number = t.number.to_string();
            match (w.expected_version, self.ticket(&staged, t.id)) {
                (None, Some(_)) => return Err(StoreError::Duplicate(Unique::TicketId(t.id))),
                (None, None) => {
                    if self.numbers.contains(&number) || staged.numbers.contains(&number) {
                        return Err(StoreError::Duplicate(Unique::TicketNumber(
                            t.number.clone(),
                        )));
                    }
                    staged.numbers.insert(number.clone());
                }
                (Some(_), None) => return Err(StoreError::NotFound(format!("ticket {}", t.id))),
                (Some(expected), Some((version, stored))) => {
                    if version != expected {
                        return Err(StoreError::Conflict(format!("ticket {stored}")));
                    }
                    if stored != number {
                        return Err(StoreError::Backend(format!(
                            "ticket {stored} would change its number"
                        )));
                    }
                }
            }
            staged.tickets.insert(t.id, (t.version, number));
            let mut position = staged
                .positions
                .get(&t.id)
                .or_else(|| self.positions.get(&t.id))
                .copied()
                .unwrap_or(-1);
            for a in &w.articles {
                position += 1;
                staged.article_positions.push(position);
                if let Some(mid) = &a.message_id
                    && (self.message_ids.contains(mid) || !staged.message_ids.insert(mid.clone()))
                {
                    return Err(StoreError::Duplicate(Unique::MessageId(mid.clone())));
                }
            }
            staged.positions.insert(t.id, position);
        }
        Ok(staged)
    }

    fn absorb(&mut self, staged: Staged) {
        self.tickets.extend(staged.tickets);
        self.numbers.extend(staged.numbers);
        self.message_ids.extend(staged.message_ids);
        self.positions.extend(staged.positions);
    }
}

/// Checks every change in order against what is stored and what the changes before it wrote,
/// and collects the rows of those that pass.
pub(crate) fn plan(mut known: Known, changes: &[Change]) -> Plan<'_> {
    let mut plan = Plan::default();
    let mut blobs = HashSet::new();
    let mut searched: HashMap<TicketId, usize> = HashMap::new();
    for change in changes {
        let mut staged = match known.check(change) {
            Ok(staged) => staged,
            Err(e) => {
                plan.outcomes.push(Err(e));
                continue;
            }
        };
        let mut positions = std::mem::take(&mut staged.article_positions).into_iter();
        known.absorb(staged);
        let mut events = Vec::new();
        for w in &change.writes {
            let t = &w.ticket;
            match w.expected_version {
                None => plan.inserts.push(t),
                Some(v) => plan.updates.push((t, v)),
            }
            plan.queues.insert(&t.queue);
            for (a, position) in w.articles.iter().zip(positions.by_ref()) {
                plan.articles.push((t.id, position, a));
            }
            plan.blobs
                .extend(w.blobs.iter().filter(|b| blobs.insert(b.hash.clone())));
            for tally in &w.tallies {
                *plan.tallies.entry(tally.key.clone()).or_insert(0) += tally.delta;
            }
            if let Some(update) = SearchUpdate::of(w) {
                match searched.get(&t.id) {
                    Some(&i) => plan.search[i].1.merge(update),
                    None => {
                        searched.insert(t.id, plan.search.len());
                        plan.search.push((t.id, update));
                    }
                }
            }
            events.extend(w.events.iter().cloned());
        }
        plan.outcomes.push(Ok(events));
    }
    plan.tallies.retain(|_, delta| *delta != 0);
    plan
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::TimeZone;
    use ticketcore::rules::{self, Ctx, Fresh};
    use ticketcore::{Actor, ArticleId, Channel, Config, Message, NewTicket, Op};

    use super::*;

    fn config() -> Config {
        Config::from_toml(
            "[[groups]]\nname = \"g\"\n[[queues]]\nname = \"Q\"\ngroup = \"g\"\n\
             [[agents]]\nlogin = \"anna\"\ngroups = { g = [\"rw\"] }\n",
        )
        .unwrap()
    }

    fn create(config: &Config, n: u64, mid: &str) -> Change {
        let now = chrono::Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        let mut message = Message::text("hello");
        message.message_id = Some(mid.into());
        let input = NewTicket::new("Q", "t", Channel::Email, message);
        let fresh = Fresh {
            ticket: TicketId(uuid::Uuid::from_u128(u128::from(n))),
            number: config.numbers.format(now.date_naive(), n, 0),
            article: ArticleId(uuid::Uuid::from_u128(u128::from(n) << 64)),
        };
        let ctx = Ctx {
            config,
            actor: &Actor::System,
            customer: None,
            now,
        };
        rules::create(ctx, &input, &fresh).unwrap()
    }

    fn note(config: &Config, change: &Change) -> Change {
        let t = &change.writes[0].ticket;
        let ctx = Ctx {
            config,
            actor: &Actor::agent("anna"),
            customer: None,
            now: t.created,
        };
        rules::apply(
            ctx,
            t,
            &Op::Note {
                article: ArticleId(uuid::Uuid::from_u128(99)),
                message: Message::text("note"),
                visible_to_customer: false,
                notify: Vec::new(),
            },
        )
        .unwrap()
    }

    #[test]
    fn a_batch_sees_its_own_earlier_changes() {
        let config = config();
        let first = create(&config, 1, "a@x");
        let again = create(&config, 1, "b@x");
        let same_mid = create(&config, 2, "a@x");
        let followed = note(&config, &first);
        let batch = [first, again, same_mid, followed];
        let plan = plan(Known::default(), &batch);
        assert!(plan.outcomes[0].is_ok());
        assert!(matches!(
            plan.outcomes[1],
            Err(StoreError::Duplicate(Unique::TicketId(_)))
        ));
        assert!(matches!(
            plan.outcomes[2],
            Err(StoreError::Duplicate(Unique::MessageId(_)))
        ));
        assert!(plan.outcomes[3].is_ok(), "{:?}", plan.outcomes[3]);
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.updates.len(), 1);
        let positions: Vec<i64> = plan.articles.iter().map(|(_, p, _)| *p).collect();
        assert_eq!(positions, [0, 1]);
    }

    #[test]
    fn stored_state_refuses_stale_and_taken() {
        let config = config();
        let first = create(&config, 1, "a@x");
        let t = first.writes[0].ticket.clone();
        let mut known = Known::default();
        known.tickets.insert(t.id, (2, t.number.to_string()));
        known.positions.insert(t.id, 4);
        let stale = note(&config, &first);
        let batch = [stale];
        let plan = plan(known, &batch);
        assert!(matches!(plan.outcomes[0], Err(StoreError::Conflict(_))));
        assert!(plan.updates.is_empty() && plan.articles.is_empty());

        let mut known = Known::default();
        known.tickets.insert(t.id, (1, t.number.to_string()));
        known.positions.insert(t.id, 4);
        let fine = note(&config, &first);
        let planned = super::plan(known, std::slice::from_ref(&fine));
        assert_eq!(planned.articles[0].1, 5);
    }
}
