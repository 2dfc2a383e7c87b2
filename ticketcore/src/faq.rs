//! The FAQ (knowledge base): entries that agents write once and send to everyone who asks.
//!
//! An entry has a number (from the store's `faq` counter, like a ticket number it never
//! changes), a title, a category (the categories form a tree by name, `Parent::Child`, each in
//! a group whose permissions govern it, as queues do), keywords, a language, a body (text, and
//! HTML sanitized on the way in), attachments and a [`FaqState`]. Every change stores a new
//! version; the older ones stay, so an entry's history is its list of versions.
//!
//! Finding entries is a store's [`FaqQuery`]: the search terms of the ticket search (one
//! analyzer, so `Rechnung` finds `Rechnungen` here too) plus who may see which state in which
//! category, applied before ranking. Stores keep each entry's terms ([`FaqEntry::terms`]) and
//! an index from term to entry; they hand the matching candidates to [`FaqPage::rank`], so
//! every backend ranks alike. The Desk side is in `knowledge.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analyzer::push_terms;
use crate::article::Attachment;
use crate::event::Actor;
use crate::search::{SearchDoc, SearchQuery};

/// The counter FAQ numbers come from.
pub const FAQ_COUNTER: &str = "faq";

/// Terms indexed from an entry's body (as from an article's).
const BODY_TERMS: usize = crate::search::BODY_TERMS;

/// Who may see an entry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum FaqState {
    /// Being written: only agents who may write its category.
    #[default]
    Draft,
    /// For agents who may read its category.
    Internal,
    /// For everyone: agents, customers and anonymous visitors.
    Public,
}

impl FaqState {
    /// Every state.
    pub const ALL: [FaqState; 3] = [FaqState::Draft, FaqState::Internal, FaqState::Public];

    /// The name, as written in TOML, JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            FaqState::Draft => "draft",
            FaqState::Internal => "internal",
            FaqState::Public => "public",
        }
    }

    /// A small number for storage keys and columns.
    pub fn code(self) -> u8 {
        match self {
            FaqState::Draft => 0,
            FaqState::Internal => 1,
            FaqState::Public => 2,
        }
    }
}

impl fmt::Display for FaqState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaqState {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaqState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "FAQ state {s:?} is not one of draft, internal, public"
                ))
            })
    }
}

/// One version of an FAQ entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqEntry {
    /// The entry's number, fixed for its life.
    pub number: u64,
    /// 1 for the first version, +1 per change.
    pub version: u64,
    /// Title (the question).
    pub title: String,
    /// Category, `Parent::Child`.
    pub category: String,
    /// Keywords, found like the title.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Language, e.g. `de` or `en`.
    pub language: String,
    /// The answer as plain text.
    pub text: String,
    /// The answer as sanitized HTML, when written in HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Attachments; the bytes live in the store by hash, as articles' do.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Who may see it.
    pub state: FaqState,
    /// When the first version was written.
    #[serde(with = "crate::stamp")]
    pub created: DateTime<Utc>,
    /// When this version was written.
    #[serde(with = "crate::stamp")]
    pub changed: DateTime<Utc>,
    /// Who wrote this version.
    pub changed_by: Actor,
}

impl FaqEntry {
    /// The entry's search terms: title and keywords as the head (a hit there weighs most),
    /// the text and attachment names as the body.
    pub fn terms(&self) -> SearchDoc {
        let mut doc = SearchDoc::default();
        push_terms(&mut doc.head, &self.number.to_string(), 1);
        push_terms(&mut doc.head, &self.title, BODY_TERMS);
        for keyword in &self.keywords {
            push_terms(&mut doc.head, keyword, BODY_TERMS);
        }
        push_terms(&mut doc.public, &self.text, BODY_TERMS);
        for attachment in &self.attachments {
            push_terms(&mut doc.public, &attachment.name, BODY_TERMS);
        }
        doc
    }

    /// What changed from `before` to this version, in a few words per field: the entry's
    /// history, read from its versions.
    pub fn changes_since(&self, before: &FaqEntry) -> Vec<String> {
        let mut changes = Vec::new();
        let mut field = |name: &str, old: &str, new: &str| {
            if old != new {
                changes.push(format!("{name}: {old:?} → {new:?}"));
            }
        };
        field("title", &before.title, &self.title);
        field("category", &before.category, &self.category);
        field("state", before.state.as_str(), self.state.as_str());
        field("language", &before.language, &self.language);
        field(
            "keywords",
            &before.keywords.join(", "),
            &self.keywords.join(", "),
        );
        if before.text != self.text || before.html != self.html {
            changes.push("text changed".into());
        }
        let names = |e: &FaqEntry| -> BTreeSet<String> {
            e.attachments.iter().map(|a| a.name.clone()).collect()
        };
        let (old, new) = (names(before), names(self));
        for added in new.difference(&old) {
            changes.push(format!("attached {added:?}"));
        }
        for removed in old.difference(&new) {
            changes.push(format!("removed {removed:?}"));
        }
        changes
    }
}

/// Where an FAQ page starts: after this hit. Hits come by descending score, then newest
/// (highest number) first.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaqKey {
    /// The hit's score (0 for a listing without words).
    pub score: f64,
    /// Its number.
    pub number: u64,
}

impl FaqKey {
    /// Whether a hit with this key comes after `other` in result order.
    pub fn follows(&self, other: &FaqKey) -> bool {
        self.score < other.score || self.score == other.score && self.number < other.number
    }
}

/// Whether `entry` is among what `visible` (per state, the categories seen; `None`: all)
/// lets a reader see.
pub fn seen_in(visible: &BTreeMap<FaqState, Option<BTreeSet<String>>>, entry: &FaqEntry) -> bool {
    visible
        .get(&entry.state)
        .is_some_and(|c| c.as_ref().is_none_or(|c| c.contains(&entry.category)))
}

/// An FAQ search or listing as a store runs it: terms analyzed, permissions turned into
/// [`FaqQuery::visible`]. Without wanted phrases it lists, newest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FaqQuery {
    /// Phrases that must all occur (in the head or the body).
    pub all: Vec<Vec<String>>,
    /// Phrases none of which may occur.
    pub none: Vec<Vec<String>>,
    /// Per state, the categories whose entries of that state the reader may see (`None`:
    /// every category). A state not in the map is not seen at all.
    pub visible: BTreeMap<FaqState, Option<BTreeSet<String>>>,
    /// Only entries in this language.
    pub language: Option<String>,
    /// Resume after this hit.
    pub after: Option<FaqKey>,
    /// Page size.
    pub limit: usize,
}

impl FaqQuery {
    /// Whether `entry` passes the filters (not the terms, not the page position).
    pub fn admits(&self, entry: &FaqEntry) -> bool {
        seen_in(&self.visible, entry)
            && self
                .language
                .as_ref()
                .is_none_or(|l| l.eq_ignore_ascii_case(&entry.language))
    }

    /// The relevance of an entry with `terms`, `None` when it does not match (the ticket
    /// search's reference scoring: occurrences, a head hit counting three).
    pub fn score(&self, terms: &SearchDoc) -> Option<f64> {
        SearchQuery {
            all: self.all.clone(),
            none: self.none.clone(),
            ..SearchQuery::default()
        }
        .score(terms)
    }

    /// The distinct terms of the wanted phrases: an entry matches only if its terms hold
    /// every one, so a store looks candidates up by them in its term index.
    pub fn wanted_terms(&self) -> BTreeSet<&str> {
        self.all.iter().flatten().map(String::as_str).collect()
    }

    /// Whether this is a plain listing (no words at all), which a store pages by number in
    /// its index without ranking.
    pub fn is_listing(&self) -> bool {
        self.all.is_empty() && self.none.is_empty()
    }
}

/// One entry found, with its relevance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaqHit {
    /// The entry (its newest version).
    pub entry: FaqEntry,
    /// Its relevance (0 in a listing).
    pub score: f64,
}

impl FaqHit {
    /// The key that resumes after this hit.
    pub fn key(&self) -> FaqKey {
        FaqKey {
            score: self.score,
            number: self.entry.number,
        }
    }
}

/// One page of FAQ hits, best first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FaqPage {
    /// The hits.
    pub hits: Vec<FaqHit>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<FaqKey>,
}

impl FaqPage {
    /// The page `query` asks for among `candidates` (entries with their terms, in any order,
    /// a superset of the matches: a store's term-index lookup): filters, scores, sorts, skips
    /// to `after` and cuts. Every backend ranks here, so all rank alike.
    pub fn rank(
        query: &FaqQuery,
        candidates: impl IntoIterator<Item = (FaqEntry, SearchDoc)>,
    ) -> FaqPage {
        let mut hits: Vec<FaqHit> = candidates
            .into_iter()
            .filter(|(entry, _)| query.admits(entry))
            .filter_map(|(entry, terms)| {
                let score = query.score(&terms)?;
                Some(FaqHit { entry, score })
            })
            .filter(|hit| query.after.is_none_or(|a| hit.key().follows(&a)))
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.entry.number.cmp(&a.entry.number))
        });
        FaqPage::cut(hits, query.limit)
    }

    /// The page of `limit` from `hits` in result order, of which a store fetched one more
    /// than the page holds to learn whether another page follows.
    pub fn cut(mut hits: Vec<FaqHit>, limit: usize) -> FaqPage {
        let more = hits.len() > limit;
        hits.truncate(limit);
        FaqPage {
            next: more.then(|| hits.last().map(FaqHit::key)).flatten(),
            hits,
        }
    }
}

/// `html` with everything that could run or track removed (scripts, event handlers,
/// `javascript:` links, styles, remote frames): what an entry keeps of HTML it was given.
pub fn sanitize_html(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// The plain text of `html`: block ends become line breaks, tags go, entities are decoded.
/// The text is what the search indexes and what a text-only reply carries.
pub fn html_text(html: &str) -> String {
    // Line breaks where blocks end, before the tags go.
    let mut marked = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find('<') {
        let start = at + found;
        marked.push_str(&html[at..start]);
        let tag = &lower[start..];
        let breaks = [
            "<br",
            "</p",
            "</div",
            "</li",
            "</h",
            "</tr",
            "</pre",
            "</blockquote",
        ]
        .iter()
        .any(|t| tag.starts_with(t));
        if breaks {
            marked.push('\n');
        }
        marked.push('<');
        at = start + 1;
    }
    marked.push_str(&html[at..]);
    let stripped = ammonia::Builder::empty()
        .clean_content_tags(["script", "style"].into())
        .clean(&marked)
        .to_string();
    let text = stripped
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace('\u{a0}', " ")
        .replace("&amp;", "&");
    // Lines trimmed, runs of blank lines kept as one paragraph break.
    let mut out = String::with_capacity(text.len());
    let mut paragraph = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            paragraph = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if paragraph { "\n\n" } else { "\n" });
        }
        paragraph = false;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::analyzer::term;

    fn entry(number: u64, title: &str, text: &str, state: FaqState) -> FaqEntry {
        FaqEntry {
            number,
            version: 1,
            title: title.into(),
            category: "Mitglieder".into(),
            keywords: vec!["Beitrag".into()],
            language: "de".into(),
            text: text.into(),
            html: None,
            attachments: Vec::new(),
            state,
            created: DateTime::UNIX_EPOCH,
            changed: DateTime::UNIX_EPOCH,
            changed_by: Actor::agent("anna"),
        }
    }

    fn wanted(words: &[&str]) -> Vec<Vec<String>> {
        words.iter().map(|w| vec![term(w).unwrap()]).collect()
    }

    #[test]
    fn ranking_finds_inflected_words_and_weighs_the_head() {
        let a = entry(1, "Rechnung ändern", "Schreiben Sie uns.", FaqState::Public);
        let b = entry(
            2,
            "Adresse",
            "Die Rechnungen kommen per Post.",
            FaqState::Public,
        );
        let c = entry(3, "Passwort", "Nichts dazu.", FaqState::Public);
        let mut q = FaqQuery {
            all: wanted(&["rechnungen"]),
            limit: 10,
            ..FaqQuery::default()
        };
        q.visible.insert(FaqState::Public, None);
        let all = [a, b, c].map(|e| {
            let t = e.terms();
            (e, t)
        });
        let page = FaqPage::rank(&q, all.clone());
        let numbers: Vec<u64> = page.hits.iter().map(|h| h.entry.number).collect();
        assert_eq!(numbers, [1, 2], "the title hit first");
        q.limit = 1;
        let first = FaqPage::rank(&q, all.clone());
        assert_eq!(first.hits[0].entry.number, 1);
        q.after = first.next;
        let second = FaqPage::rank(&q, all.clone());
        assert_eq!(second.hits[0].entry.number, 2);
        assert!(second.next.is_none());
        q.after = None;
        q.none = wanted(&["post"]);
        q.limit = 10;
        assert_eq!(FaqPage::rank(&q, all).hits.len(), 1);
    }

    #[test]
    fn visibility_is_per_state_and_category() {
        let mut q = FaqQuery::default();
        q.visible.insert(FaqState::Public, None);
        q.visible
            .insert(FaqState::Internal, Some(["Vorstand".to_string()].into()));
        let mut e = entry(1, "t", "x", FaqState::Internal);
        assert!(!q.admits(&e));
        e.category = "Vorstand".into();
        assert!(q.admits(&e));
        e.state = FaqState::Draft;
        assert!(!q.admits(&e));
        e.state = FaqState::Public;
        e.category = "Anything".into();
        assert!(q.admits(&e));
        q.language = Some("en".into());
        assert!(!q.admits(&e));
    }

    #[test]
    fn html_is_sanitized_and_read_as_text() {
        let html = r#"<p onclick="steal()">Erst <b>das</b> &amp; dann</p><script>alert(1)</script><a href="javascript:x()">Link</a><br>Zeile 2"#;
        let clean = sanitize_html(html);
        assert!(!clean.contains("script") && !clean.contains("onclick"));
        assert!(!clean.contains("javascript:"));
        assert!(clean.contains("<b>das</b>"));
        assert_eq!(html_text(html), "Erst das & dann\nLink\nZeile 2");
    }

    #[test]
    fn changes_name_what_changed() {
        let a = entry(1, "Alt", "x", FaqState::Draft);
        let mut b = a.clone();
        b.title = "Neu".into();
        b.state = FaqState::Public;
        let changes = b.changes_since(&a);
        assert!(changes.iter().any(|c| c.starts_with("title")));
        assert!(changes.iter().any(|c| c.starts_with("state")));
        assert_eq!(changes.len(), 2);
    }
}
