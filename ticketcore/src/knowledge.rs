//! The knowledge base's door: the Desk's FAQ methods (the model is in [`crate::faq`]).
//!
//! Who sees what: public entries are for everyone, anonymous visitors included (a reader of
//! `None`); an agent with `ro` on a category's group also reads its internal entries, with
//! `rw` its drafts, and writes its entries; the system sees and writes everything. The
//! reader's view is a filter of the store's query, so every page is full.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::acl::{Grants, Permission, Viewer};
use crate::article::{Attachment, Blob, Channel, ContentHash, Message, NewAttachment};
use crate::config::{Config, FaqCategory};
use crate::desk::{Committed, Desk};
use crate::error::{Error, Result};
use crate::event::Actor;
use crate::faq::{
    FAQ_COUNTER, FaqEntry, FaqKey, FaqQuery, FaqState, html_text, sanitize_html, seen_in,
};
use crate::finding::{MAX_PAGE, Snippet, first_passage, named_in_tree, parse};
use crate::rules::Op;
use crate::store::StoreError;
use crate::ticket::TicketId;

/// The longest title.
const MAX_TITLE: usize = 500;
/// The largest text or HTML body, in bytes.
const MAX_BODY: usize = 1 << 20;
/// The FAQ search's fields.
const FAQ_FIELDS: [&str; 2] = ["category", "language"];

/// A new FAQ entry as an agent writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFaq {
    /// Title (the question).
    pub title: String,
    /// Category, which must exist.
    pub category: String,
    /// Keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Language (`de`, `en`, ...).
    pub language: String,
    /// The answer as text; taken from `html` when empty.
    #[serde(default)]
    pub text: String,
    /// The answer as HTML, sanitized before it is stored.
    #[serde(default)]
    pub html: Option<String>,
    /// Who may see it.
    #[serde(default)]
    pub state: FaqState,
    /// Attachments.
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

impl NewFaq {
    /// A draft in English with `text`.
    pub fn new(
        title: impl Into<String>,
        category: impl Into<String>,
        text: impl Into<String>,
    ) -> NewFaq {
        NewFaq {
            title: title.into(),
            category: category.into(),
            keywords: Vec::new(),
            language: "en".into(),
            text: text.into(),
            html: None,
            state: FaqState::Draft,
            attachments: Vec::new(),
        }
    }
}

/// A change of an FAQ entry: each field given replaces the entry's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaqEdit {
    /// New title.
    pub title: Option<String>,
    /// New category.
    pub category: Option<String>,
    /// New keywords.
    pub keywords: Option<Vec<String>>,
    /// New language.
    pub language: Option<String>,
    /// New text (the HTML is dropped unless `html` is given too).
    pub text: Option<String>,
    /// New HTML (the text is taken from it unless `text` is given too).
    pub html: Option<String>,
    /// New state.
    pub state: Option<FaqState>,
    /// Attachments to add.
    pub attach: Vec<NewAttachment>,
    /// Attachments to remove, by name.
    pub detach: Vec<String>,
}

/// One FAQ entry found for a reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaqFound {
    /// The entry.
    pub entry: FaqEntry,
    /// Its relevance (0 in a listing).
    pub score: f64,
    /// A passage of its text, matches marked.
    pub snippet: Snippet,
}

/// What a list of FAQ entries shows of one: the rows of `ticketctl faq search --json` and of
/// the web API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqRow<'a> {
    /// The entry's number.
    pub number: u64,
    /// Its title.
    pub title: &'a str,
    /// Its category.
    pub category: &'a str,
    /// Who may see it.
    pub state: FaqState,
    /// Its language.
    pub language: &'a str,
    /// The passage that matched (the beginning of the answer in a listing).
    pub snippet: &'a str,
}

impl FaqFound {
    /// The entry as a result list shows it.
    pub fn row(&self) -> FaqRow<'_> {
        FaqRow {
            number: self.entry.number,
            title: &self.entry.title,
            category: &self.entry.category,
            state: self.entry.state,
            language: &self.entry.language,
            snippet: &self.snippet.text,
        }
    }
}

/// A page of FAQ entries.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FaqResults {
    /// The entries, best (or, in a listing, newest) first.
    pub hits: Vec<FaqFound>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<FaqKey>,
}

/// Per state, the categories whose entries of that state `viewer` sees (`None`: every
/// category); `None` as viewer is an anonymous visitor.
fn visible(
    config: &Config,
    viewer: Option<&Viewer>,
) -> BTreeMap<FaqState, Option<BTreeSet<String>>> {
    let mut visible = BTreeMap::from([(FaqState::Public, None)]);
    match viewer {
        None | Some(Viewer::Customer(_)) => {}
        Some(Viewer::System) => {
            visible.insert(FaqState::Internal, None);
            visible.insert(FaqState::Draft, None);
        }
        Some(Viewer::Agent(login)) => {
            let grants = Grants::of(config, login);
            let with = |perm: Permission| -> BTreeSet<String> {
                config
                    .faq_categories
                    .iter()
                    .filter(|c| grants.allows(&c.group, perm))
                    .map(|c| c.name.clone())
                    .collect()
            };
            visible.insert(FaqState::Internal, Some(with(Permission::Ro)));
            visible.insert(FaqState::Draft, Some(with(Permission::Rw)));
        }
    }
    visible
}

/// Whether `actor` writes the entries of `category`.
fn writes(config: &Config, actor: &Actor, category: &str) -> bool {
    let Some(category) = config.faq_category(category) else {
        return false;
    };
    match actor {
        Actor::System => true,
        Actor::Agent(login) => Grants::of(config, login).allows(&category.group, Permission::Rw),
        Actor::Customer(_) => false,
    }
}

/// Refuses `actor` writing in `category`, or a category that does not exist.
fn require_writer(config: &Config, actor: &Actor, category: &str) -> Result<()> {
    if config.faq_category(category).is_none() {
        return Err(Error::Invalid(format!(
            "there is no FAQ category {category:?}"
        )));
    }
    if writes(config, actor, category) {
        return Ok(());
    }
    Err(Error::FaqDenied {
        actor: actor.to_string(),
        action: "write FAQ entries".into(),
        category: category.into(),
    })
}

/// The checked text and sanitized HTML of an answer.
fn body(text: String, html: Option<String>) -> Result<(String, Option<String>)> {
    if text.len() > MAX_BODY || html.as_ref().is_some_and(|h| h.len() > MAX_BODY) {
        return Err(Error::Invalid(format!(
            "an FAQ answer may have at most {MAX_BODY} bytes"
        )));
    }
    let html = html
        .filter(|h| !h.trim().is_empty())
        .map(|h| sanitize_html(&h));
    let text = match (&html, text.trim().is_empty()) {
        (Some(html), true) => html_text(html),
        _ => text,
    };
    if text.trim().is_empty() {
        return Err(Error::Invalid("an FAQ entry needs an answer".into()));
    }
    Ok((text, html))
}

fn check(entry: &FaqEntry) -> Result<()> {
    let title = entry.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(Error::Invalid(format!(
            "an FAQ title has 1 to {MAX_TITLE} characters"
        )));
    }
    let language = &entry.language;
    if language.is_empty()
        || language.len() > 16
        || !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::Invalid(format!(
            "FAQ language {language:?} is not a language tag such as de or en"
        )));
    }
    Ok(())
}

fn attach(attachments: Vec<NewAttachment>) -> (Vec<Attachment>, Vec<Blob>) {
    attachments
        .into_iter()
        .map(NewAttachment::into_parts)
        .unzip()
}

impl Desk {
    /// The configuration and, per state, the categories `reader` sees (`None`: anonymous).
    async fn faq_view(
        &self,
        reader: Option<&Actor>,
    ) -> Result<(
        Arc<Config>,
        Option<Viewer>,
        BTreeMap<FaqState, Option<BTreeSet<String>>>,
    )> {
        let (config, viewer) = match reader {
            Some(actor) => {
                let (config, viewer) = self.door(actor).await?;
                (config, Some(viewer))
            }
            None => (self.current_config().await?, None),
        };
        let visible = visible(&config, viewer.as_ref());
        Ok((config, viewer, visible))
    }

    /// Writes a new FAQ entry (an agent with `rw` on the category's group, or the system)
    /// and returns it with its number.
    pub async fn faq_add(&self, actor: &Actor, new: NewFaq) -> Result<FaqEntry> {
        let (config, _) = self.door(actor).await?;
        require_writer(&config, actor, &new.category)?;
        let (text, html) = body(new.text, new.html)?;
        let (attachments, blobs) = attach(new.attachments);
        let now = self.now();
        let mut entry = FaqEntry {
            number: 0,
            version: 1,
            title: new.title.trim().to_string(),
            category: new.category,
            keywords: clean_keywords(new.keywords),
            language: new.language.trim().to_lowercase(),
            text,
            html,
            attachments,
            state: new.state,
            created: now,
            changed: now,
            changed_by: actor.clone(),
        };
        check(&entry)?;
        entry.number = self.store.next_counter(FAQ_COUNTER, 1).await?;
        self.store.save_faq(&entry, &blobs).await?;
        Ok(entry)
    }

    /// Changes an FAQ entry, storing a new version (the writer must write both its category
    /// and, when it moves, the new one). Returns the new version; an edit that changes
    /// nothing returns the entry as it is.
    pub async fn faq_edit(&self, actor: &Actor, number: u64, edit: FaqEdit) -> Result<FaqEntry> {
        for _ in 0..self.attempts {
            let (config, viewer, visible) = self.faq_view(Some(actor)).await?;
            let current = match self.store.faq_entry(number).await? {
                Some(entry) if seen_in(&visible, &entry) || viewer == Some(Viewer::System) => entry,
                _ => return Err(Error::NotFound(format!("FAQ entry {number}"))),
            };
            require_writer(&config, actor, &current.category)?;
            let mut next = current.clone();
            if let Some(category) = &edit.category {
                require_writer(&config, actor, category)?;
                next.category.clone_from(category);
            }
            if let Some(title) = &edit.title {
                next.title = title.trim().to_string();
            }
            if let Some(keywords) = &edit.keywords {
                next.keywords = clean_keywords(keywords.clone());
            }
            if let Some(language) = &edit.language {
                next.language = language.trim().to_lowercase();
            }
            if edit.text.is_some() || edit.html.is_some() {
                let (text, html) = body(edit.text.clone().unwrap_or_default(), edit.html.clone())?;
                next.text = text;
                next.html = html;
            }
            if let Some(state) = edit.state {
                next.state = state;
            }
            next.attachments.retain(|a| !edit.detach.contains(&a.name));
            let (added, blobs) = attach(edit.attach.clone());
            next.attachments.extend(added);
            check(&next)?;
            if next == current {
                return Ok(current);
            }
            next.version = current.version + 1;
            next.changed = self.now();
            next.changed_by = actor.clone();
            match self.store.save_faq(&next, &blobs).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contention(self.attempts))
    }

    /// FAQ entry `number`, if `reader` may see it (`None`: an anonymous visitor); otherwise
    /// `NotFound`, as for an entry that does not exist.
    pub async fn faq_entry(&self, reader: Option<&Actor>, number: u64) -> Result<FaqEntry> {
        let (_, _, visible) = self.faq_view(reader).await?;
        match self.store.faq_entry(number).await? {
            Some(entry) if seen_in(&visible, &entry) => Ok(entry),
            _ => Err(Error::NotFound(format!("FAQ entry {number}"))),
        }
    }

    /// Every version of an entry, oldest first: its history, for agents who may see the
    /// entry (compare neighbours with [`FaqEntry::changes_since`]).
    pub async fn faq_versions(&self, actor: &Actor, number: u64) -> Result<Vec<FaqEntry>> {
        if matches!(actor, Actor::Customer(_)) {
            return Err(Error::NotFound(format!("FAQ entry {number}")));
        }
        self.faq_entry(Some(actor), number).await?;
        Ok(self.store.faq_versions(number).await?)
    }

    /// Searches the FAQ with the ticket search's language (words, phrases, `-word`) and its
    /// own filters `category:` (with sub-categories) and `language:`; best first.
    pub async fn faq_search(
        &self,
        reader: Option<&Actor>,
        query: &str,
        after: Option<FaqKey>,
        limit: usize,
    ) -> Result<FaqResults> {
        let parsed = parse(query)?.only(&FAQ_FIELDS, "FAQ search")?;
        let (config, _, visible) = self.faq_view(reader).await?;
        let mut q = FaqQuery {
            all: parsed.all,
            none: parsed.none,
            visible,
            language: parsed.language.map(|l| l.to_lowercase()),
            after,
            limit: limit.clamp(1, MAX_PAGE),
        };
        if !parsed.categories.is_empty() {
            narrow(&mut q, &named_categories(&config, &parsed.categories));
        }
        self.faq_page(q, &parsed.marks).await
    }

    /// The entries `reader` may see, newest first, all or those in `category` and its
    /// sub-categories.
    pub async fn faq_list(
        &self,
        reader: Option<&Actor>,
        category: Option<&str>,
        after: Option<FaqKey>,
        limit: usize,
    ) -> Result<FaqResults> {
        let (config, _, visible) = self.faq_view(reader).await?;
        let mut q = FaqQuery {
            visible,
            after,
            limit: limit.clamp(1, MAX_PAGE),
            ..FaqQuery::default()
        };
        if let Some(category) = category {
            narrow(&mut q, &named_categories(&config, &[category.to_string()]));
        }
        self.faq_page(q, &BTreeSet::new()).await
    }

    async fn faq_page(&self, q: FaqQuery, marks: &BTreeSet<String>) -> Result<FaqResults> {
        if q.visible.is_empty() {
            return Ok(FaqResults::default());
        }
        let page = self.store.faq_search(&q).await?;
        let hits = page
            .hits
            .into_iter()
            .map(|hit| {
                let entry = &hit.entry;
                let snippet = first_passage(
                    [entry.text.as_str(), entry.title.as_str()],
                    &entry.text,
                    marks,
                );
                FaqFound {
                    snippet,
                    score: hit.score,
                    entry: hit.entry,
                }
            })
            .collect();
        Ok(FaqResults {
            hits,
            next: page.next,
        })
    }

    /// The categories `reader` finds entries in: for agents those they may read and those
    /// with public entries, for everyone else those with public entries.
    pub async fn faq_categories(&self, reader: Option<&Actor>) -> Result<Vec<FaqCategory>> {
        let (config, _, visible) = self.faq_view(reader).await?;
        let readable: BTreeSet<&String> = visible
            .get(&FaqState::Internal)
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        let mut out = Vec::new();
        for category in &config.faq_categories {
            if readable.contains(&category.name) {
                out.push(category.clone());
                continue;
            }
            let q = FaqQuery {
                visible: BTreeMap::from([(
                    FaqState::Public,
                    Some(BTreeSet::from([category.name.clone()])),
                )]),
                limit: 1,
                ..FaqQuery::default()
            };
            if !self.store.faq_search(&q).await?.hits.is_empty() {
                out.push(category.clone());
            }
        }
        Ok(out)
    }

    /// The bytes of an attachment of entry `number`, if `reader` may see the entry: of its
    /// newest version, or for agents (who see its history) of any version.
    pub async fn faq_attachment(
        &self,
        reader: Option<&Actor>,
        number: u64,
        hash: &ContentHash,
    ) -> Result<Vec<u8>> {
        let entry = self.faq_entry(reader, number).await?;
        let carries = |e: &FaqEntry| e.attachments.iter().any(|a| a.hash == *hash);
        let found = carries(&entry)
            || match reader {
                Some(actor @ (Actor::Agent(_) | Actor::System)) => {
                    self.faq_versions(actor, number).await?.iter().any(carries)
                }
                _ => false,
            };
        if !found {
            return Err(Error::NotFound(format!("attachment {}", hash.0)));
        }
        self.store
            .blob(hash)
            .await?
            .ok_or_else(|| Error::NotFound(format!("attachment {}", hash.0)))
    }

    /// Answers the customer of `ticket` with FAQ entry `number`: its title and text as the
    /// reply, its attachments attached; the `SendAnswer` event names the entry. A draft is
    /// refused: publish it first.
    pub async fn send_faq(
        &self,
        actor: &Actor,
        ticket: TicketId,
        number: u64,
    ) -> Result<Committed> {
        let entry = self.faq_entry(Some(actor), number).await?;
        if entry.state == FaqState::Draft {
            return Err(Error::Invalid(format!(
                "FAQ entry {number} is a draft; make it internal or public before sending it"
            )));
        }
        let mut attachments = Vec::with_capacity(entry.attachments.len());
        for a in &entry.attachments {
            let data = self.store.blob(&a.hash).await?.ok_or_else(|| {
                Error::NotFound(format!("attachment {} of FAQ entry {number}", a.name))
            })?;
            attachments.push(NewAttachment {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                inline: a.inline,
                data,
            });
        }
        let message = Message {
            body: format!("{}\n\n{}", entry.title, entry.text),
            body_html: entry
                .html
                .as_ref()
                .map(|html| format!("<h3>{}</h3>\n{html}", sanitize_html(&entry.title))),
            attachments,
            ..Message::default()
        };
        let op = Op::Reply {
            article: self.new_article_id(),
            message,
            channel: Channel::Email,
            next_state: None,
            faq: Some(number),
        };
        self.apply(actor, ticket, op).await
    }
}

/// Keywords trimmed, empty ones and repeats dropped, order kept.
fn clean_keywords(keywords: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    keywords
        .into_iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty() && seen.insert(k.to_lowercase()))
        .collect()
}

/// The categories `values` name: each and its sub-categories, ignoring case.
fn named_categories(config: &Config, values: &[String]) -> BTreeSet<String> {
    named_in_tree(config.faq_categories.iter().map(|c| &c.name), values)
}

/// Narrows every state's categories to `named`.
fn narrow(q: &mut FaqQuery, named: &BTreeSet<String>) {
    for categories in q.visible.values_mut() {
        *categories = Some(match categories.take() {
            Some(seen) => seen.intersection(named).cloned().collect(),
            None => named.clone(),
        });
    }
    q.visible
        .retain(|_, c| c.as_ref().is_none_or(|c| !c.is_empty()));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keywords_are_cleaned() {
        assert_eq!(
            clean_keywords(vec![
                " Beitrag ".into(),
                "".into(),
                "beitrag".into(),
                "SEPA".into()
            ]),
            ["Beitrag", "SEPA"]
        );
    }

    #[test]
    fn an_answer_comes_from_html_when_no_text_is_given() {
        let (text, html) = body(
            String::new(),
            Some("<p>Hallo <script>x</script>Welt</p>".into()),
        )
        .unwrap();
        assert_eq!(text, "Hallo Welt");
        assert_eq!(html.as_deref(), Some("<p>Hallo Welt</p>"));
        assert!(body(" ".into(), None).is_err());
    }
}
