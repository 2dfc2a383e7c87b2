//! Full-text search: what a store keeps per ticket (its terms, from the one
//! [`analyzer`](crate::analyzer)), what it is asked ([`SearchQuery`]: terms and phrases plus
//! the filters that permissions and the query language set), and what it answers
//! ([`SearchPage`], ranked by relevance, ties by recency, keyset-paginated).
//!
//! A ticket's terms come in three parts, so permissions stay inside the query: `head` (number,
//! title, customer), `public` (everything in customer-visible articles) and `internal`
//! (internal notes and other agent-only articles). A customer's query looks at `head` and
//! `public` only; words that occur only in internal notes never match for them.
//! Auto-responses are left out: the same template on every ticket would make its words match
//! everywhere.
//!
//! Stores derive the terms of every commit with [`SearchUpdate::of`]: a new ticket's whole
//! document, then per commit the terms of its new articles (appended) and a new `head` when
//! the title or customer changed. The Desk side (parsing the query language, permissions,
//! snippets) is in `finding.rs`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::acl::CustomerScope;
use crate::analyzer::push_terms;
use crate::article::Article;
use crate::event::EventKind;
use crate::state::StateType;
use crate::store::TicketWrite;
use crate::ticket::{Ticket, TicketId};

/// Terms indexed per article body; beyond this a very long mail is found by its beginning.
/// (PostgreSQL's tsvector holds at most 1 MiB, and positions beyond 16383 merge into one.)
pub const BODY_TERMS: usize = 4000;

/// Terms indexed from each short field (subject, addresses, attachment names).
const FIELD_TERMS: usize = 200;

/// The most bytes a part of a [`SearchDoc`] grows to by appending: later articles of a
/// ticket that large are not indexed (PostgreSQL's tsvector must stay under 1 MiB). Every
/// backend applies the same limit, so all find the same.
pub const MAX_PART: usize = 200_000;

/// The prefix of `from:` terms: the words of an article's sender, searchable on their own.
pub const FROM: &str = "0f";
/// The prefix of `customer:` terms: the words of the ticket's customer and company.
pub const CUSTOMER: &str = "0c";

/// A ticket's searchable terms, each part a space-separated sequence (phrases are matched by
/// position within a part).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchDoc {
    /// Number, title, customer and company.
    pub head: String,
    /// Terms of customer-visible articles.
    pub public: String,
    /// Terms of internal articles.
    pub internal: String,
}

/// What one commit changes in a ticket's [`SearchDoc`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchUpdate {
    /// The new head, when the ticket is new or its title or customer changed.
    pub head: Option<String>,
    /// Terms to append to `public`.
    pub public: String,
    /// Terms to append to `internal`.
    pub internal: String,
}

impl SearchUpdate {
    /// What `write` changes in its ticket's terms; `None` when it changes nothing searchable
    /// (a lock, a state change), so a store writes nothing for it.
    pub fn of(write: &TicketWrite) -> Option<SearchUpdate> {
        let head_changed = write.expected_version.is_none()
            || write.events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::TitleUpdate { .. } | EventKind::CustomerUpdate { .. }
                )
            });
        let searchable = || write.articles.iter().filter(|a| !a.is_auto_response());
        if !head_changed && searchable().next().is_none() {
            return None;
        }
        let mut update = SearchUpdate {
            head: head_changed.then(|| head(&write.ticket)),
            ..SearchUpdate::default()
        };
        for article in searchable() {
            let part = if article.visible_to_customer {
                &mut update.public
            } else {
                &mut update.internal
            };
            push_article(part, article);
        }
        Some(update)
    }

    /// This update followed by `next` as one: a store that writes a ticket twice in one
    /// batch writes its terms once.
    pub fn merge(&mut self, next: SearchUpdate) {
        if next.head.is_some() {
            self.head = next.head;
        }
        append(&mut self.public, &next.public);
        append(&mut self.internal, &next.internal);
    }
}

impl SearchDoc {
    /// The whole document of `ticket` with `articles`, as the commits that added them one
    /// by one built it (the same [`MAX_PART`] limit): what a rebuild stores.
    pub fn of(ticket: &Ticket, articles: &[Article]) -> SearchDoc {
        let mut doc = SearchDoc {
            head: head(ticket),
            ..SearchDoc::default()
        };
        for article in articles.iter().filter(|a| !a.is_auto_response()) {
            let mut update = SearchUpdate::default();
            let part = if article.visible_to_customer {
                &mut update.public
            } else {
                &mut update.internal
            };
            push_article(part, article);
            doc.apply(&update);
        }
        doc
    }

    /// Applies one commit's update.
    pub fn apply(&mut self, update: &SearchUpdate) {
        if let Some(head) = &update.head {
            self.head.clone_from(head);
        }
        for (part, terms) in [
            (&mut self.public, &update.public),
            (&mut self.internal, &update.internal),
        ] {
            if part.len() < MAX_PART {
                append(part, terms);
            }
        }
    }

    /// The parts a viewer's query looks at: `internal` only for agents and the system.
    pub fn parts(&self, internal: bool) -> impl Iterator<Item = &str> {
        [&self.head, &self.public]
            .into_iter()
            .chain(internal.then_some(&self.internal))
            .map(String::as_str)
    }
}

/// Appends the space-separated `terms` to `part`.
pub fn append(part: &mut String, terms: &str) {
    if terms.is_empty() {
        return;
    }
    if !part.is_empty() {
        part.push(' ');
    }
    part.push_str(terms);
}

fn head(ticket: &Ticket) -> String {
    let mut head = String::new();
    push_terms(&mut head, ticket.number.as_str(), FIELD_TERMS);
    push_terms(&mut head, &ticket.title, FIELD_TERMS);
    for who in [&ticket.customer, &ticket.customer_company]
        .into_iter()
        .flatten()
    {
        push_terms(&mut head, who, FIELD_TERMS);
        push_prefixed(&mut head, CUSTOMER, who);
    }
    head
}

fn push_article(part: &mut String, article: &Article) {
    push_terms(part, &article.subject, FIELD_TERMS);
    push_terms(part, &article.from, FIELD_TERMS);
    push_prefixed(part, FROM, &article.from);
    push_terms(part, &article.to, FIELD_TERMS);
    push_terms(part, &article.cc, FIELD_TERMS);
    for attachment in &article.attachments {
        push_terms(part, &attachment.name, FIELD_TERMS);
    }
    push_terms(part, &article.body, BODY_TERMS);
}

/// Appends the terms of `text`, each with `prefix`: field terms such as `from:`.
fn push_prefixed(out: &mut String, prefix: &str, text: &str) {
    for term in crate::analyzer::terms(text).take(FIELD_TERMS) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(prefix);
        out.push_str(&term);
    }
}

/// Where a search page starts: after this hit. Hits come in descending score, then newest
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchKey {
    /// The hit's relevance (backend-specific scale; higher is better).
    pub score: f64,
    /// Its creation time.
    #[serde(with = "crate::stamp")]
    pub created: DateTime<Utc>,
    /// Tie breaker.
    pub id: TicketId,
}

impl SearchKey {
    /// Whether a hit with this key comes after `other` in result order.
    pub fn follows(&self, other: &SearchKey) -> bool {
        self.score < other.score
            || self.score == other.score
                && (self.created < other.created
                    || self.created == other.created && self.id < other.id)
    }
}

/// A search as a store runs it: terms already analyzed, permissions already turned into
/// filters. Every part is applied inside the store's index, never by dropping rows after
/// paging.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Phrases (a single term is a phrase of one) that must all occur, each within one part.
    pub all: Vec<Vec<String>>,
    /// Phrases none of which may occur.
    pub none: Vec<Vec<String>>,
    /// Whether the `internal` part counts (agents and the system); customers: `false`.
    pub internal: bool,
    /// Only tickets in these queues (`None`: all).
    pub queues: Option<BTreeSet<String>>,
    /// Only tickets of these state types (`None`: all).
    pub state_types: Option<BTreeSet<StateType>>,
    /// Only tickets owned by this agent.
    pub owner: Option<String>,
    /// Only tickets this customer may see.
    pub customer: Option<CustomerScope>,
    /// Only tickets created at or after this time.
    #[serde(default, with = "crate::stamp::option")]
    pub created_from: Option<DateTime<Utc>>,
    /// Only tickets created before this time.
    #[serde(default, with = "crate::stamp::option")]
    pub created_before: Option<DateTime<Utc>>,
    /// Resume after this hit.
    pub after: Option<SearchKey>,
    /// Page size.
    pub limit: usize,
}

impl SearchQuery {
    /// Whether `ticket` passes the filters (not the terms, not the page position).
    pub fn admits(&self, ticket: &Ticket) -> bool {
        self.queues
            .as_ref()
            .is_none_or(|q| q.contains(&ticket.queue))
            && self
                .state_types
                .as_ref()
                .is_none_or(|s| s.contains(&ticket.state_type))
            && self
                .owner
                .as_ref()
                .is_none_or(|o| ticket.owner.as_ref() == Some(o))
            && self.customer.as_ref().is_none_or(|c| c.sees(ticket))
            && self.created_from.is_none_or(|t| ticket.created >= t)
            && self.created_before.is_none_or(|t| ticket.created < t)
    }

    /// The relevance of `doc` for this query, `None` when it does not match: the reference
    /// scoring (occurrences of the wanted phrases, a title or customer hit counting three),
    /// which [`MemoryStore`](crate::MemoryStore) uses. Other backends rank with their
    /// engine's own measure.
    pub fn score(&self, doc: &SearchDoc) -> Option<f64> {
        let parts: Vec<Vec<&str>> = doc
            .parts(self.internal)
            .map(|p| p.split(' ').filter(|t| !t.is_empty()).collect())
            .collect();
        if self
            .none
            .iter()
            .any(|phrase| parts.iter().any(|p| occurrences(p, phrase) > 0))
        {
            return None;
        }
        let mut score = 0.0;
        for phrase in &self.all {
            let mut found = 0;
            for (i, part) in parts.iter().enumerate() {
                let n = occurrences(part, phrase);
                found += if i == 0 { 3 * n } else { n };
            }
            if found == 0 {
                return None;
            }
            score += found as f64;
        }
        Some(score)
    }
}

/// How often `phrase` occurs in `terms`.
fn occurrences(terms: &[&str], phrase: &[String]) -> usize {
    if phrase.is_empty() || phrase.len() > terms.len() {
        return 0;
    }
    terms
        .windows(phrase.len())
        .filter(|w| w.iter().zip(phrase).all(|(a, b)| *a == b))
        .count()
}

/// One ticket found, with its relevance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The ticket.
    pub ticket: Ticket,
    /// Its relevance (higher is better).
    pub score: f64,
}

impl SearchHit {
    /// The key that resumes a search after this hit.
    pub fn key(&self) -> SearchKey {
        SearchKey {
            score: self.score,
            created: self.ticket.created,
            id: self.ticket.id,
        }
    }
}

/// One page of search hits, best first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchPage {
    /// The hits.
    pub hits: Vec<SearchHit>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<SearchKey>,
}

impl SearchPage {
    /// The page of `limit` from `candidates` (every match, in any order): sorts, skips to
    /// `after`, cuts. For stores that collect all matches (the reference store; an engine's
    /// top-k after its own filtering).
    pub fn of(mut candidates: Vec<SearchHit>, after: Option<SearchKey>, limit: usize) -> Self {
        candidates.retain(|h| after.is_none_or(|a| h.key().follows(&a)));
        candidates.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.ticket.created.cmp(&a.ticket.created))
                .then(b.ticket.id.cmp(&a.ticket.id))
        });
        SearchPage::cut(candidates, limit)
    }

    /// The page of `limit` from `hits` in result order, of which a store fetched one more
    /// than the page holds to learn whether another page follows.
    pub fn cut(mut hits: Vec<SearchHit>, limit: usize) -> Self {
        let more = hits.len() > limit;
        hits.truncate(limit);
        SearchPage {
            next: more.then(|| hits.last().map(SearchHit::key)).flatten(),
            hits,
        }
    }
}
