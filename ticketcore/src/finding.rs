//! `Desk::search`: the query language people type, turned into a [`SearchQuery`] with the
//! actor's permissions inside it, and the snippets that show why a ticket matched.
//!
//! The language: words (all must occur, in any inflected form), `"quoted phrases"`, `-word`
//! and `-"phrase"` to exclude, and field filters `queue:` (the queue and its sub-queues),
//! `state:` (a state's name or a state type such as `closed` or `pending`), `owner:`,
//! `customer:`, `from:`, and `created:` with `>`, `>=`, `<`, `<=` or a day
//! (`created:>2026-01-01`). A value with spaces is quoted (`queue:"Sales Inbound"`). A word
//! with a colon that names no field (`Re:`, `https://…`) is just words. The FAQ search
//! (`knowledge.rs`) reads the same language with its own fields, `category:` and
//! `language:`.

use std::collections::BTreeSet;
use std::ops::Range;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::acl::{Viewer, readable_queues};
use crate::analyzer::{term, terms, words};
use crate::article::Article;
use crate::config::Config;
use crate::desk::Desk;
use crate::error::{Error, Result};
use crate::event::Actor;
use crate::search::{CUSTOMER, FROM, SearchKey, SearchQuery};
use crate::state::StateType;
use crate::ticket::Ticket;

/// The most words and filters one query may have.
const MAX_PARTS: usize = 32;
/// The largest page.
pub const MAX_PAGE: usize = 200;
/// Words of context a snippet shows before its first match.
const BEFORE: usize = 6;
/// The longest snippet, in characters (before the ellipses).
const SNIPPET: usize = 180;

/// Which page of results to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Paging {
    /// Resume after this hit (the previous page's `next`).
    pub after: Option<SearchKey>,
    /// Page size, 1 to 200.
    pub limit: usize,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            after: None,
            limit: 20,
        }
    }
}

/// One ticket found for an actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// The ticket.
    pub ticket: Ticket,
    /// Its relevance (higher is better; the scale is the backend's).
    pub score: f64,
    /// Why it matched: a passage of its text the actor may see, matches marked.
    pub snippet: Snippet,
}

/// What a list of search results shows of a hit: the rows of `ticketctl search --json` and
/// of the web API, one shape for both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundRow<'a> {
    /// The ticket's number.
    pub number: &'a crate::number::TicketNumber,
    /// Its title.
    pub title: &'a str,
    /// Its queue.
    pub queue: &'a str,
    /// Its state.
    pub state: &'a str,
    /// Its customer.
    pub customer: Option<&'a str>,
    /// The passage that matched.
    pub snippet: &'a str,
}

impl Found {
    /// The hit as a result list shows it.
    pub fn row(&self) -> FoundRow<'_> {
        FoundRow {
            number: &self.ticket.number,
            title: &self.ticket.title,
            queue: &self.ticket.queue,
            state: &self.ticket.state,
            customer: self.ticket.customer.as_deref(),
            snippet: &self.snippet.text,
        }
    }
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Results {
    /// The tickets, best first.
    pub hits: Vec<Found>,
    /// Pass as [`Paging::after`] for the next page; `None` on the last page.
    pub next: Option<SearchKey>,
}

/// A short passage with the matched words marked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snippet {
    /// The passage (with `…` where it was cut).
    pub text: String,
    /// Byte ranges of `text` that matched.
    pub marks: Vec<Range<usize>>,
}

impl Snippet {
    /// The passage with each match between `open` and `close` (for a terminal, `**`; for HTML
    /// use [`Snippet::html`]).
    pub fn marked(&self, open: &str, close: &str) -> String {
        self.render(open, close, |s| s.to_string())
    }

    /// The passage as HTML: escaped, matches in `<mark>`.
    pub fn html(&self) -> String {
        self.render("<mark>", "</mark>", escape_html)
    }

    fn render(&self, open: &str, close: &str, text: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut at = 0;
        for mark in &self.marks {
            out.push_str(&text(&self.text[at..mark.start]));
            out.push_str(open);
            out.push_str(&text(&self.text[mark.clone()]));
            out.push_str(close);
            at = mark.end;
        }
        out.push_str(&text(&self.text[at..]));
        out
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query as typed, understood: what the store looks up, before permissions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// Phrases that must occur.
    pub all: Vec<Vec<String>>,
    /// Phrases that must not.
    pub none: Vec<Vec<String>>,
    /// `queue:` values.
    pub queues: Vec<String>,
    /// `state:` values.
    pub states: Vec<String>,
    /// `owner:` value.
    pub owner: Option<String>,
    /// `created:` lower bound (inclusive).
    pub created_from: Option<DateTime<Utc>>,
    /// `created:` upper bound (exclusive).
    pub created_before: Option<DateTime<Utc>>,
    /// `category:` values (the FAQ's).
    pub categories: Vec<String>,
    /// `language:` value (the FAQ's).
    pub language: Option<String>,
    /// The terms a snippet marks.
    pub marks: BTreeSet<String>,
    /// The fields the query used.
    pub fields: BTreeSet<String>,
}

impl Parsed {
    /// Refuses a field that is not one of `allowed`, naming what is: a ticket filter in an
    /// FAQ search finds nothing, and silence would make it look like there is nothing.
    pub fn only(self, allowed: &[&str], search: &str) -> Result<Parsed> {
        match self.fields.iter().find(|f| !allowed.contains(&f.as_str())) {
            Some(field) => Err(Error::Invalid(format!(
                "{field}: does not filter the {search}; its filters are {}",
                allowed
                    .iter()
                    .map(|f| format!("{f}:"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            None => Ok(self),
        }
    }
}

/// The ticket search's fields.
pub const TICKET_FIELDS: [&str; 6] = ["queue", "state", "owner", "customer", "from", "created"];

/// Splits a query into its parts: `(excluded, field, value)`, quotes removed.
fn parts(query: &str) -> Vec<(bool, Option<String>, String)> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return out;
        }
        let excluded = chars.next_if_eq(&'-').is_some();
        let mut field = None;
        let mut value = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c == '"' {
                chars.next();
                quoted = !quoted;
                continue;
            }
            if c.is_whitespace() && !quoted {
                break;
            }
            chars.next();
            if c == ':' && field.is_none() && !quoted && is_field(&value) {
                field = Some(value.to_lowercase());
                value.clear();
                continue;
            }
            value.push(c);
        }
        out.push((excluded, field, value));
    }
}

fn is_field(name: &str) -> bool {
    matches!(
        name.to_lowercase().as_str(),
        "queue" | "state" | "owner" | "customer" | "from" | "created" | "category" | "language"
    )
}

/// Understands `query`; an unreadable date or an empty query is an error that says why.
pub fn parse(query: &str) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let parts = parts(query);
    if parts.len() > MAX_PARTS {
        return Err(Error::Invalid(format!(
            "a search may have at most {MAX_PARTS} words and filters"
        )));
    }
    let mut any = false;
    for (excluded, field, value) in parts {
        if let Some(field) = &field {
            parsed.fields.insert(field.clone());
        }
        let phrase: Vec<String> = match field.as_deref() {
            None => terms(&value).collect(),
            Some("from") => prefixed(FROM, &value),
            Some("customer") => prefixed(CUSTOMER, &value),
            Some(field) if excluded => {
                return Err(Error::Invalid(format!(
                    "-{field}: cannot be excluded; only words, phrases, from: and customer: can"
                )));
            }
            Some("queue") => {
                parsed.queues.push(value);
                any = true;
                continue;
            }
            Some("state") => {
                parsed.states.push(value);
                any = true;
                continue;
            }
            Some("owner") => {
                parsed.owner = Some(value);
                any = true;
                continue;
            }
            Some("category") => {
                parsed.categories.push(value);
                any = true;
                continue;
            }
            Some("language") => {
                parsed.language = Some(value);
                any = true;
                continue;
            }
            Some(_) => {
                created(&mut parsed, &value)?;
                any = true;
                continue;
            }
        };
        if phrase.is_empty() {
            continue;
        }
        any = true;
        if excluded {
            parsed.none.push(phrase);
        } else {
            if field.is_none() {
                parsed.marks.extend(phrase.iter().cloned());
            }
            parsed.all.push(phrase);
        }
    }
    if !any {
        return Err(Error::Invalid(
            "the search is empty: type words to find, or a filter such as queue:".into(),
        ));
    }
    Ok(parsed)
}

fn prefixed(prefix: &str, value: &str) -> Vec<String> {
    terms(value).map(|t| format!("{prefix}{t}")).collect()
}

/// Reads a `created:` filter into the bounds.
fn created(parsed: &mut Parsed, value: &str) -> Result<()> {
    let (op, day) = ["<=", ">=", "<", ">"]
        .into_iter()
        .find_map(|op| value.strip_prefix(op).map(|d| (op, d)))
        .unwrap_or(("", value));
    let day = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| {
        Error::Invalid(format!(
            "created:{value} is not a date; write created:>2026-01-01, created:<=2026-03-31 or created:2026-02-14"
        ))
    })?;
    let start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let next = day.checked_add_days(Days::new(1)).and_then(start);
    let (from, before) = match op {
        ">" => (next, None),
        ">=" => (start(day), None),
        "<" => (None, start(day)),
        "<=" => (None, next),
        _ => (start(day), next),
    };
    if let Some(from) = from {
        parsed.created_from = Some(parsed.created_from.map_or(from, |f| f.max(from)));
    }
    if let Some(before) = before {
        parsed.created_before = Some(parsed.created_before.map_or(before, |b| b.min(before)));
    }
    Ok(())
}

/// The queues `queue:` values name: each queue and its sub-queues, by name, ignoring case.
fn named_queues(config: &Config, values: &[String]) -> BTreeSet<String> {
    named_in_tree(config.queues.iter().map(|q| &q.name), values)
}

/// The names among `names` (a tree by "::") that `values` name: each with its descendants,
/// ignoring case.
pub(crate) fn named_in_tree<'a>(
    names: impl Iterator<Item = &'a String> + Clone,
    values: &[String],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for value in values {
        let value = value.to_lowercase();
        out.extend(
            names
                .clone()
                .filter(|name| crate::config::within(&name.to_lowercase(), &value))
                .cloned(),
        );
    }
    out
}

/// The state types `state:` values name: a configured state's type, or state types by name
/// (`closed` is both closed types, `pending` all three pending ones).
fn named_state_types(config: &Config, values: &[String]) -> BTreeSet<StateType> {
    let mut out = BTreeSet::new();
    for value in values {
        let value = value.to_lowercase().replace([' ', '-'], "_");
        out.extend(
            config
                .states
                .iter()
                .filter(|s| s.name.to_lowercase().replace([' ', '-'], "_") == value)
                .map(|s| s.state_type),
        );
        out.extend(
            StateType::ALL
                .into_iter()
                .filter(|t| t.as_str() == value || t.as_str().starts_with(&format!("{value}_"))),
        );
    }
    out
}

impl Desk {
    /// Full-text search for `actor` (the language is in this module's docs): tickets ranked by
    /// relevance, ties newest first, one page at a time, each with a snippet. An agent finds
    /// tickets in queues it may read, a customer their own (and their company's, where
    /// allowed) and only by what they may read: words only in internal notes never match
    /// for a customer and never show in their snippets. Permissions are filters of the store's
    /// query, so every page is full.
    pub async fn search(&self, actor: &Actor, query: &str, page: Paging) -> Result<Results> {
        let (config, viewer) = self.door(actor).await?;
        let parsed = parse(query)?.only(&TICKET_FIELDS, "ticket search")?;
        let mut q = SearchQuery {
            all: parsed.all.clone(),
            none: parsed.none.clone(),
            internal: viewer.sees_internal(),
            owner: parsed.owner.clone(),
            created_from: parsed.created_from,
            created_before: parsed.created_before,
            after: page.after,
            limit: page.limit.clamp(1, MAX_PAGE),
            ..SearchQuery::default()
        };
        if !parsed.queues.is_empty() {
            q.queues = Some(named_queues(&config, &parsed.queues));
        }
        if !parsed.states.is_empty() {
            q.state_types = Some(named_state_types(&config, &parsed.states));
        }
        match &viewer {
            Viewer::System => {}
            Viewer::Agent(login) => {
                let readable = readable_queues(&config, login);
                q.queues = Some(match q.queues.take() {
                    Some(named) => named.intersection(&readable).cloned().collect(),
                    None => readable,
                });
            }
            Viewer::Customer(scope) => q.customer = Some(scope.clone()),
        }
        if q.queues.as_ref().is_some_and(BTreeSet::is_empty)
            || q.state_types.as_ref().is_some_and(BTreeSet::is_empty)
        {
            return Ok(Results::default());
        }
        let page = self.store.search(&q).await?;
        // The page's articles are read side by side: a store may join them into one query.
        let reads = page.hits.iter().map(|h| self.store.articles(h.ticket.id));
        let articles = futures_util::future::join_all(reads).await;
        let mut hits = Vec::with_capacity(page.hits.len());
        for (hit, articles) in page.hits.into_iter().zip(articles) {
            let mut articles = articles?;
            articles.retain(|a| q.internal || a.visible_to_customer);
            let snippet = snippet(&hit.ticket, &articles, &parsed.marks);
            hits.push(Found {
                ticket: hit.ticket,
                score: hit.score,
                snippet,
            });
        }
        Ok(Results {
            hits,
            next: page.next,
        })
    }
}

impl Desk {
    /// Rebuilds every ticket's search terms from its articles, for the system only: after an
    /// analyzer change, or to repair a backend's index. Returns how many tickets it indexed.
    /// Commits keep the terms in step on their own; this is never needed for that.
    pub async fn reindex(&self, actor: &Actor) -> Result<u64> {
        if *actor != Actor::System {
            return Err(Error::Unauthorized(
                "only the system rebuilds the search index".into(),
            ));
        }
        let mut query = crate::store::TicketQuery {
            archived: None,
            limit: 500,
            ..crate::store::TicketQuery::default()
        };
        let mut count = 0;
        loop {
            let page = self.store.query(&query).await?;
            for ticket in &page.tickets {
                let articles = self.store.articles(ticket.id).await?;
                let doc = crate::search::SearchDoc::of(ticket, &articles);
                self.store.put_search(ticket.id, &doc).await?;
                count += 1;
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(count),
            }
        }
    }
}

/// The passage that best shows why `ticket` matched: the first article text (then the
/// title) with a marked word, cut around it; without one, the beginning of the first
/// article.
pub fn snippet(ticket: &Ticket, articles: &[Article], marks: &BTreeSet<String>) -> Snippet {
    let texts = articles
        .iter()
        .flat_map(|a| [a.body.as_str(), a.subject.as_str()])
        .chain([ticket.title.as_str()]);
    let first = articles.first().map_or(ticket.title.as_str(), |a| &a.body);
    first_passage(texts, first, marks)
}

/// The passage around the first marked word in `texts`, or the beginning of `fallback`.
pub(crate) fn first_passage<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    fallback: &str,
    marks: &BTreeSet<String>,
) -> Snippet {
    for text in texts {
        if let Some(snippet) = passage(text, marks) {
            return snippet;
        }
    }
    passage_at(fallback, 0, marks)
}

fn passage(text: &str, marks: &BTreeSet<String>) -> Option<Snippet> {
    if marks.is_empty() {
        return None;
    }
    let found: Vec<usize> = words(text).map(|(at, _)| at).collect();
    let hit = words(text).position(|(_, w)| term(w).is_some_and(|t| marks.contains(&t)))?;
    let start = found[hit.saturating_sub(BEFORE)];
    Some(passage_at(text, start, marks))
}

/// The passage of `text` from byte `start` (a word's start), at most [`SNIPPET`] characters
/// ending at a word's end, whitespace collapsed.
fn passage_at(text: &str, start: usize, marks: &BTreeSet<String>) -> Snippet {
    let rest = &text[start..];
    let mut end = rest.len();
    for (count, (i, _)) in rest.char_indices().enumerate() {
        if count == SNIPPET {
            end = i;
            break;
        }
    }
    let mut cut = &rest[..end];
    if end < rest.len() {
        // End at the last whole word.
        if let Some(last) = cut.rfind(char::is_whitespace) {
            cut = &cut[..last];
        }
    }
    let mut snippet = Snippet::default();
    if start > 0 {
        snippet.text.push('…');
    }
    let mut words_of = words(cut).peekable();
    let mut last_space = true;
    let mut at = 0;
    while at < cut.len() {
        let c = cut[at..].chars().next().unwrap_or(' ');
        if let Some(&(w_at, w)) = words_of.peek()
            && w_at == at
        {
            words_of.next();
            let from = snippet.text.len();
            snippet.text.push_str(w);
            if term(w).is_some_and(|t| marks.contains(&t)) {
                snippet.marks.push(from..snippet.text.len());
            }
            at += w.len();
            last_space = false;
            continue;
        }
        if c.is_whitespace() {
            if !last_space {
                snippet.text.push(' ');
            }
            last_space = true;
        } else {
            snippet.text.push(c);
            last_space = false;
        }
        at += c.len_utf8();
    }
    let trimmed = snippet.text.trim_end().len();
    snippet.text.truncate(trimmed);
    if end < rest.len() {
        snippet.text.push('…');
    }
    snippet
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_language_has_words_phrases_exclusions_and_filters() {
        let p = parse(
            r#"Rechnungen "Drucker defekt" -spam -"kein Toner" queue:Sales state:closed owner:anna customer:kunde1 from:max@example.com created:>=2026-01-01 created:<2026-02-01 Re:"#,
        )
        .unwrap();
        assert_eq!(p.all[0], [term("Rechnung").unwrap()]);
        assert_eq!(
            p.all[1],
            [term("drucker").unwrap(), term("defekt").unwrap()]
        );
        assert_eq!(p.all[2], ["0ckunde1".to_string()]);
        assert_eq!(p.all[3].len(), 3);
        assert!(p.all[3].iter().all(|t| t.starts_with("0f")));
        assert_eq!(p.all[4], [term("re").unwrap()]);
        assert_eq!(
            p.none,
            [
                vec![term("spam").unwrap()],
                vec![term("kein").unwrap(), term("toner").unwrap()]
            ]
        );
        assert_eq!(p.queues, ["Sales"]);
        assert_eq!(p.states, ["closed"]);
        assert_eq!(p.owner.as_deref(), Some("anna"));
        assert_eq!(
            p.created_from.unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            p.created_before.unwrap().to_rfc3339(),
            "2026-02-01T00:00:00+00:00"
        );
        assert!(p.marks.contains(&term("drucker").unwrap()));
        assert!(!p.marks.iter().any(|m| m.starts_with("0")));
    }

    #[test]
    fn unreadable_and_empty_queries_say_why() {
        for bad in [
            "",
            "   ",
            "---",
            "created:yesterday",
            "created:>2026-13-01",
            "-queue:Sales",
        ] {
            assert!(matches!(parse(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
        let day = parse("created:2026-02-14").unwrap();
        assert_eq!(
            day.created_from.unwrap().to_rfc3339(),
            "2026-02-14T00:00:00+00:00"
        );
        assert_eq!(
            day.created_before.unwrap().to_rfc3339(),
            "2026-02-15T00:00:00+00:00"
        );
        assert!(parse(&"w ".repeat(40)).is_err());
    }

    #[test]
    fn a_snippet_is_cut_around_the_first_match_and_marks_every_one() {
        let marks: BTreeSet<String> = ["drucker", "defekt"]
            .iter()
            .filter_map(|w| term(w))
            .collect();
        let text = format!(
            "{} Unser Drucker im   zweiten Stock ist defekt, der Drucker zeigt Fehler 42. {}",
            "Vorrede ".repeat(20),
            "Nachrede ".repeat(40)
        );
        let s = passage(&text, &marks).unwrap();
        assert!(
            s.text.starts_with('…') && s.text.ends_with('…'),
            "{}",
            s.text
        );
        assert!(s.text.chars().count() <= SNIPPET + 2);
        assert_eq!(
            s.marked("[", "]").matches('[').count(),
            3,
            "{}",
            s.marked("[", "]")
        );
        assert!(
            s.marked("[", "]")
                .contains("[Drucker] im zweiten Stock ist [defekt], der [Drucker]")
        );
        let html = Snippet {
            text: "<b>Drucker</b>".into(),
            marks: vec![Range { start: 3, end: 10 }],
        }
        .html();
        assert_eq!(html, "&lt;b&gt;<mark>Drucker</mark>&lt;/b&gt;");
    }
}
