//! The FAQ on SQL: `faq` holds each entry's newest version with the columns a listing
//! filters on (state, category, language) and its terms, `faq_versions` every version,
//! `faq_terms` one row per distinct term and entry. A listing pages by number in the
//! database; a search looks candidates up by their terms there and ranks them with
//! ticketcore's [`FaqPage::rank`], so every backend ranks alike.

use std::collections::BTreeSet;

use ticketcore::article::Blob;
use ticketcore::faq::{FaqEntry, FaqHit, FaqPage, FaqQuery};
use ticketcore::{SearchDoc, StoreError, StoreResult};

use crate::db::{K, P, V, is_unique_violation};
use crate::{SqlStore, decode, decode_text, encode};

impl SqlStore {
    pub(crate) async fn faq_newest(&self, number: u64) -> StoreResult<Option<FaqEntry>> {
        let sql = "SELECT doc FROM faq WHERE number = ?";
        Ok(self.faq_docs(sql, number).await?.into_iter().next())
    }

    pub(crate) async fn faq_all_versions(&self, number: u64) -> StoreResult<Vec<FaqEntry>> {
        let sql = "SELECT doc FROM faq_versions WHERE number = ? ORDER BY version";
        self.faq_docs(sql, number).await
    }

    /// The entries `sql` selects (one `doc` column) for entry `number`.
    async fn faq_docs(&self, sql: &str, number: u64) -> StoreResult<Vec<FaqEntry>> {
        let rows = self.db.rows(sql, &[P::I(number as i64)], &[K::T]).await?;
        rows.iter()
            .map(|row| decode(row.first(), "FAQ entry"))
            .collect()
    }

    /// Stores a new version in one transaction: compare-and-swap on the newest row's
    /// version, the version kept, the term rows replaced, the attachment bytes added.
    pub(crate) async fn faq_save(&self, entry: &FaqEntry, blobs: &[Blob]) -> StoreResult<()> {
        let conflict = || StoreError::Conflict(format!("FAQ entry {}", entry.number));
        if entry.version == 0 {
            return Err(conflict());
        }
        let doc = encode(entry)?;
        let terms = entry.terms();
        let number = P::I(entry.number as i64);
        let mut tx = self.db.begin().await?;
        let columns = [
            P::I(entry.version as i64),
            P::I(i64::from(entry.state.code())),
            P::T(entry.category.clone()),
            P::T(entry.language.clone()),
            P::T(terms.head.clone()),
            P::T(terms.public.clone()),
            P::T(doc.clone()),
        ];
        if entry.version == 1 {
            let sql = "INSERT INTO faq (number, version, state, category, language, head, body, doc) \
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
            let mut params = vec![number.clone()];
            params.extend(columns);
            if let Err(e) = tx.exec(sql, &params).await {
                let _ = tx.rollback().await;
                return Err(if is_unique_violation(&e) {
                    conflict()
                } else {
                    e
                });
            }
        } else {
            let sql = "UPDATE faq SET version = ?, state = ?, category = ?, language = ?, \
                       head = ?, body = ?, doc = ? WHERE number = ? AND version = ?";
            let mut params = columns.to_vec();
            params.extend([number.clone(), P::I(entry.version as i64 - 1)]);
            if tx.exec(sql, &params).await? != 1 {
                let _ = tx.rollback().await;
                return Err(conflict());
            }
            tx.exec(
                "DELETE FROM faq_terms WHERE number = ?",
                std::slice::from_ref(&number),
            )
            .await?;
        }
        tx.exec(
            "INSERT INTO faq_versions (number, version, doc) VALUES (?, ?, ?)",
            &[number.clone(), P::I(entry.version as i64), P::T(doc)],
        )
        .await?;
        self.insert_rows(
            &mut tx,
            "faq_terms",
            &["term", "number"],
            term_rows(&terms, &number),
            false,
        )
        .await?;
        let rows = blobs
            .iter()
            .map(|b| vec![P::T(b.hash.0.clone()), P::B(b.data.clone())])
            .collect();
        self.insert_rows(&mut tx, "blobs", &["hash", "data"], rows, true)
            .await?;
        tx.commit().await
    }

    /// Derives every entry's terms again (after an analyzer change); returns how many.
    pub(crate) async fn reindex_faq(&self) -> StoreResult<u64> {
        let rows = self.db.rows("SELECT doc FROM faq", &[], &[K::T]).await?;
        let mut count = 0;
        for row in rows {
            let entry: FaqEntry = decode(row.first(), "FAQ entry")?;
            let terms = entry.terms();
            let number = P::I(entry.number as i64);
            let mut tx = self.db.begin().await?;
            tx.exec(
                "UPDATE faq SET head = ?, body = ? WHERE number = ?",
                &[
                    P::T(terms.head.clone()),
                    P::T(terms.public.clone()),
                    number.clone(),
                ],
            )
            .await?;
            tx.exec(
                "DELETE FROM faq_terms WHERE number = ?",
                std::slice::from_ref(&number),
            )
            .await?;
            self.insert_rows(
                &mut tx,
                "faq_terms",
                &["term", "number"],
                term_rows(&terms, &number),
                false,
            )
            .await?;
            tx.commit().await?;
            count += 1;
        }
        Ok(count)
    }

    /// A listing pages in the database, newest first; a search ranks the entries that hold
    /// every wanted term.
    pub(crate) async fn faq_page(&self, q: &FaqQuery) -> StoreResult<FaqPage> {
        let mut params = Vec::new();
        let mut visible = Vec::new();
        for (state, categories) in &q.visible {
            params.push(P::I(i64::from(state.code())));
            match categories {
                None => visible.push("(state = ?)".to_string()),
                Some(c) if c.is_empty() => {
                    params.pop();
                }
                Some(c) => {
                    visible.push(format!(
                        "(state = ? AND category IN ({}))",
                        vec!["?"; c.len()].join(", ")
                    ));
                    params.extend(c.iter().map(|c| P::T(c.clone())));
                }
            }
        }
        if visible.is_empty() {
            return Ok(FaqPage::default());
        }
        let mut filter = format!("({})", visible.join(" OR "));
        if let Some(language) = &q.language {
            filter.push_str(" AND language = ?");
            params.push(P::T(language.clone()));
        }
        if q.is_listing() {
            if let Some(after) = &q.after {
                filter.push_str(" AND number < ?");
                params.push(P::I(after.number as i64));
            }
            let sql = format!(
                "SELECT doc FROM faq WHERE {filter} ORDER BY number DESC LIMIT {}",
                q.limit.saturating_add(1)
            );
            let rows = self.db.rows(&sql, &params, &[K::T]).await?;
            let hits = rows
                .iter()
                .map(|row| {
                    Ok(FaqHit {
                        entry: decode(row.first(), "FAQ entry")?,
                        score: 0.0,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            return Ok(FaqPage::cut(hits, q.limit));
        }
        for term in q.wanted_terms() {
            filter.push_str(" AND number IN (SELECT number FROM faq_terms WHERE term = ?)");
            params.push(P::T(term.to_string()));
        }
        let sql = format!("SELECT doc, head, body FROM faq WHERE {filter}");
        let rows = self.db.rows(&sql, &params, &[K::T, K::T, K::T]).await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            let text = |i: usize| row.get(i).and_then(V::t).unwrap_or_default().to_string();
            let entry: FaqEntry =
                decode_text(row.first().and_then(V::t).unwrap_or(""), "FAQ entry")?;
            let terms = SearchDoc {
                head: text(1),
                public: text(2),
                internal: String::new(),
            };
            candidates.push((entry, terms));
        }
        Ok(FaqPage::rank(q, candidates))
    }
}

/// One `faq_terms` row per distinct term of `terms`.
fn term_rows(terms: &SearchDoc, number: &P) -> Vec<Vec<P>> {
    let distinct: BTreeSet<&str> = terms
        .parts(true)
        .flat_map(|part| part.split(' '))
        .filter(|t| !t.is_empty())
        .collect();
    distinct
        .into_iter()
        .map(|t| vec![P::T(t.to_string()), number.clone()])
        .collect()
}
