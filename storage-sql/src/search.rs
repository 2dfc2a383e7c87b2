//! Full-text search on SQL: each ticket's terms (from ticketcore's analyzer) in
//! `ticket_search`, indexed by the dialect's own engine: FTS5 on SQLite, tsvector with GIN on
//! PostgreSQL, InnoDB FULLTEXT on MariaDB/MySQL. Commits write the terms in their own
//! transaction (new tickets insert, later commits append), so the index never lags.

use ticketcore::search::MAX_PART;
use ticketcore::store::Store;
use ticketcore::{SearchDoc, SearchHit, SearchPage, SearchQuery, StoreResult, TicketId};

use crate::batch;
use crate::db::{Dialect, K, P, Tx, V};
use crate::{SqlStore, decode_text, id_bytes, nanos, state_index};

/// The prefix every term gets on MariaDB/MySQL: InnoDB drops tokens shorter than three
/// characters and those on its stopword list, and no prefixed term is either.
const MYSQL_PREFIX: &str = "tt";

/// The counter holding the analyzer version the stored terms were made with.
const ANALYZER: &str = "analyzer";

/// `terms` as the dialect stores them.
fn stored(dialect: Dialect, terms: &str) -> String {
    if dialect != Dialect::MySql || terms.is_empty() {
        return terms.to_string();
    }
    let mut out = String::with_capacity(terms.len() + terms.len() / 4);
    for term in terms.split(' ').filter(|t| !t.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(MYSQL_PREFIX);
        out.push_str(term);
    }
    out
}

/// A plan's search rows: ticket, head (empty: unchanged), terms to append to public and
/// internal.
pub(crate) fn rows(dialect: Dialect, plan: &batch::Plan<'_>) -> Vec<Vec<P>> {
    plan.search
        .iter()
        .map(|(ticket, update)| {
            vec![
                P::B(id_bytes(*ticket)),
                P::T(stored(dialect, update.head.as_deref().unwrap_or(""))),
                P::T(stored(dialect, &update.public)),
                P::T(stored(dialect, &update.internal)),
            ]
        })
        .collect()
}

/// What an upsert of search rows does with a row that exists: a new head replaces the old,
/// terms are appended to each part until it holds [`MAX_PART`] bytes.
pub(crate) fn on_conflict(dialect: Dialect) -> String {
    let append = |part: &str, new: &str, old: &str, len: &str| {
        format!(
            "{part} = CASE WHEN {new} = '' OR {len} >= {MAX_PART} THEN {old} \
             WHEN {old} = '' THEN {new} ELSE {} END",
            match dialect {
                Dialect::MySql => format!("CONCAT({old}, ' ', {new})"),
                _ => format!("{old} || ' ' || {new}"),
            }
        )
    };
    match dialect {
        Dialect::MySql => format!(
            "ON DUPLICATE KEY UPDATE head = IF(VALUES(head) = '', head, VALUES(head)), {}, {}",
            append("public", "VALUES(public)", "public", "LENGTH(public)"),
            append(
                "internal",
                "VALUES(internal)",
                "internal",
                "LENGTH(internal)"
            )
        ),
        _ => {
            let len = |c: &str| match dialect {
                Dialect::Postgres => format!("octet_length(ticket_search.{c})"),
                _ => format!("length(CAST(ticket_search.{c} AS BLOB))"),
            };
            format!(
                "ON CONFLICT (ticket) DO UPDATE SET head = CASE WHEN excluded.head = '' \
                 THEN ticket_search.head ELSE excluded.head END, {}, {}",
                append(
                    "public",
                    "excluded.public",
                    "ticket_search.public",
                    &len("public")
                ),
                append(
                    "internal",
                    "excluded.internal",
                    "ticket_search.internal",
                    &len("internal")
                )
            )
        }
    }
}

/// The dialect's full-text expression for the query's wanted phrases (`all`) or, with
/// `any`, for any of its unwanted ones (`none`).
fn expression(dialect: Dialect, phrases: &[Vec<String>], any: bool) -> String {
    let quoted = |phrase: &Vec<String>, quote: &str, join: &str, prefix: &str| {
        let terms: Vec<String> = phrase.iter().map(|t| format!("{prefix}{t}")).collect();
        format!("{quote}{}{quote}", terms.join(join))
    };
    match dialect {
        Dialect::Sqlite => phrases
            .iter()
            .map(|p| quoted(p, "\"", " ", ""))
            .collect::<Vec<_>>()
            .join(if any { " OR " } else { " AND " }),
        Dialect::Postgres => phrases
            .iter()
            .map(|p| {
                let terms: Vec<String> = p.iter().map(|t| format!("'{t}'")).collect();
                format!("({})", terms.join(" <-> "))
            })
            .collect::<Vec<_>>()
            .join(if any { " | " } else { " & " }),
        Dialect::MySql => phrases
            .iter()
            .map(|p| {
                let phrase = quoted(p, "\"", " ", MYSQL_PREFIX);
                if any { phrase } else { format!("+{phrase}") }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The matching tickets with their score, as a subquery with columns `ticket` and `score`
/// and its parameter: `phrases` wanted (all of them) and `none` refused.
fn matches(dialect: Dialect, q: &SearchQuery) -> (String, P) {
    let wanted = expression(dialect, &q.all, false);
    let refused = expression(dialect, &q.none, true);
    match dialect {
        Dialect::Sqlite => {
            let mut expr = format!("({wanted})");
            if !q.none.is_empty() {
                expr = format!("{expr} NOT ({refused})");
            }
            if !q.internal {
                expr = format!("{{head public}} : ({expr})");
            }
            (
                "SELECT r.ticket AS ticket, -bm25(ticket_fts, 3.0, 1.0, 1.0) AS score \
                 FROM ticket_fts JOIN ticket_search r ON r.id = ticket_fts.rowid \
                 WHERE ticket_fts MATCH ?"
                    .into(),
                P::T(expr),
            )
        }
        Dialect::Postgres => {
            let column = if q.internal {
                "all_terms"
            } else {
                "public_terms"
            };
            let mut expr = wanted;
            if !q.none.is_empty() {
                expr = format!("({expr}) & !({refused})");
            }
            (
                format!(
                    "SELECT ticket, ts_rank({column}, q)::float8 AS score \
                     FROM ticket_search, to_tsquery('simple', ?) q WHERE {column} @@ q"
                ),
                P::T(expr),
            )
        }
        Dialect::MySql => {
            let columns = if q.internal {
                "head, public, internal"
            } else {
                "head, public"
            };
            let mut expr = wanted;
            for phrase in &q.none {
                expr.push_str(&format!(" -{}", quoted_mysql(phrase)));
            }
            // The expression is bound twice: MATCH in the select list and in the filter.
            (
                format!(
                    "SELECT ticket, MATCH({columns}) AGAINST (? IN BOOLEAN MODE) AS score \
                     FROM ticket_search WHERE MATCH({columns}) AGAINST (? IN BOOLEAN MODE)"
                ),
                P::T(expr),
            )
        }
    }
}

fn quoted_mysql(phrase: &[String]) -> String {
    let terms: Vec<String> = phrase
        .iter()
        .map(|t| format!("{MYSQL_PREFIX}{t}"))
        .collect();
    format!("\"{}\"", terms.join(" "))
}

/// The tickets matching any of the query's refused phrases (for a query without wanted
/// ones), as a subquery with one column, and its parameter.
fn refused(dialect: Dialect, q: &SearchQuery) -> (String, P) {
    let any = expression(dialect, &q.none, true);
    match dialect {
        Dialect::Sqlite => (
            "SELECT r.ticket FROM ticket_fts JOIN ticket_search r ON r.id = ticket_fts.rowid \
             WHERE ticket_fts MATCH ?"
                .into(),
            P::T(if q.internal {
                any
            } else {
                format!("{{head public}} : ({any})")
            }),
        ),
        Dialect::Postgres => {
            let column = if q.internal {
                "all_terms"
            } else {
                "public_terms"
            };
            (
                format!(
                    "SELECT ticket FROM ticket_search WHERE {column} @@ to_tsquery('simple', ?)"
                ),
                P::T(any),
            )
        }
        Dialect::MySql => {
            let columns = if q.internal {
                "head, public, internal"
            } else {
                "head, public"
            };
            (
                format!(
                    "SELECT ticket FROM ticket_search WHERE MATCH({columns}) AGAINST (? IN BOOLEAN MODE)"
                ),
                P::T(any),
            )
        }
    }
}

impl SqlStore {
    /// One page of a search: the engine finds and scores the matches, the join with
    /// `tickets` applies the filters and the page position, the database sorts.
    pub(crate) async fn search_page(&self, q: &SearchQuery) -> StoreResult<SearchPage> {
        let dialect = self.dialect();
        let mut params = Vec::new();
        let (mut sql, score) = if q.all.is_empty() {
            // Filters and refusals only: every hit scores zero, newest first.
            let zero = match dialect {
                Dialect::Postgres => "0::float8",
                Dialect::MySql => "CAST(0 AS DOUBLE)",
                Dialect::Sqlite => "0.0",
            };
            let mut sql = format!("SELECT t.doc, {zero} FROM tickets t WHERE 1 = 1");
            if !q.none.is_empty() {
                let (sub, param) = refused(dialect, q);
                sql.push_str(&format!(" AND t.id NOT IN ({sub})"));
                params.push(param);
            }
            (sql, zero)
        } else {
            let (sub, param) = matches(dialect, q);
            if dialect == Dialect::MySql {
                params.push(param.clone());
            }
            params.push(param);
            (
                format!(
                    "SELECT t.doc, s.score FROM ({sub}) s JOIN tickets t ON t.id = s.ticket \
                     WHERE 1 = 1"
                ),
                "s.score",
            )
        };
        let mut one_of = |column: &str, values: Vec<P>, sql: &mut String| {
            let marks = vec!["?"; values.len()].join(", ");
            sql.push_str(&format!(" AND t.{column} IN ({marks})"));
            params.extend(values);
        };
        if let Some(queues) = &q.queues {
            if queues.is_empty() {
                return Ok(SearchPage::default());
            }
            one_of(
                "queue",
                queues.iter().map(|s| P::T(s.clone())).collect(),
                &mut sql,
            );
        }
        if let Some(types) = &q.state_types {
            if types.is_empty() {
                return Ok(SearchPage::default());
            }
            one_of(
                "state_type",
                types.iter().map(|s| P::I(state_index(*s))).collect(),
                &mut sql,
            );
        }
        if let Some(owner) = &q.owner {
            sql.push_str(" AND t.owner = ?");
            params.push(P::T(owner.clone()));
        }
        if let Some(scope) = &q.customer {
            match &scope.company {
                Some(company) => {
                    sql.push_str(" AND (t.customer = ? OR t.company = ?)");
                    params.push(P::T(scope.login.clone()));
                    params.push(P::T(company.clone()));
                }
                None => {
                    sql.push_str(" AND t.customer = ?");
                    params.push(P::T(scope.login.clone()));
                }
            }
        }
        if let Some(from) = q.created_from {
            sql.push_str(" AND t.created >= ?");
            params.push(P::I(nanos(from)));
        }
        if let Some(before) = q.created_before {
            sql.push_str(" AND t.created < ?");
            params.push(P::I(nanos(before)));
        }
        if let Some(after) = &q.after {
            sql.push_str(&format!(
                " AND ({score} < ? OR ({score} = ? AND (t.created < ? OR \
                 (t.created = ? AND t.id < ?))))"
            ));
            let created = nanos(after.created);
            params.extend([
                P::F(after.score),
                P::F(after.score),
                P::I(created),
                P::I(created),
                P::B(id_bytes(after.id)),
            ]);
        }
        let take = q.limit.saturating_add(1);
        let by_score = if q.all.is_empty() {
            String::new()
        } else {
            format!("{score} DESC, ")
        };
        sql.push_str(&format!(
            " ORDER BY {by_score}t.created DESC, t.id DESC LIMIT {take}"
        ));
        let rows = self.db.rows(&sql, &params, &[K::T, K::F]).await?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in rows {
            let doc = row.first().and_then(V::t).unwrap_or_default();
            hits.push(SearchHit {
                ticket: decode_text(doc, "ticket")?,
                score: row.get(1).and_then(V::f).unwrap_or(0.0),
            });
        }
        Ok(SearchPage::cut(hits, q.limit))
    }

    /// Writes a plan's search rows inside its transaction.
    pub(crate) async fn write_search(
        &self,
        tx: &mut Tx,
        plan: &batch::Plan<'_>,
    ) -> StoreResult<()> {
        let rows = rows(self.dialect(), plan);
        self.upsert_rows(
            tx,
            "ticket_search",
            &["ticket", "head", "public", "internal"],
            rows,
            &on_conflict(self.dialect()),
        )
        .await
    }

    /// Replaces the search row of `ticket`.
    pub(crate) async fn replace_search(
        &self,
        ticket: TicketId,
        doc: &SearchDoc,
    ) -> StoreResult<()> {
        let dialect = self.dialect();
        let sql = self.upsert("ticket_search", "ticket", &["head", "public", "internal"]);
        self.db
            .exec(
                &sql,
                &[
                    P::B(id_bytes(ticket)),
                    P::T(stored(dialect, &doc.head)),
                    P::T(stored(dialect, &doc.public)),
                    P::T(stored(dialect, &doc.internal)),
                ],
            )
            .await?;
        Ok(())
    }

    /// Drops every ticket's terms and derives the FAQ's again when the analyzer changed since
    /// they were made (the counter `analyzer` says which made them); the backfill that
    /// follows indexes the tickets afresh.
    pub(crate) async fn upgrade_terms(&self) -> StoreResult<()> {
        let made_with = self.counter(ANALYZER).await?;
        if made_with >= ticketcore::analyzer::VERSION {
            return Ok(());
        }
        self.db.exec("DELETE FROM ticket_search", &[]).await?;
        let entries = self.reindex_faq().await?;
        if entries > 0 {
            tracing::info!(
                "indexed {entries} FAQ entries again for analyzer version {}",
                ticketcore::analyzer::VERSION
            );
        }
        self.next_counter(ANALYZER, ticketcore::analyzer::VERSION - made_with)
            .await?;
        Ok(())
    }

    /// Indexes the tickets that have no search row yet (those stored before the search
    /// table existed), a page at a time: what opening a store does, so search never misses
    /// a committed ticket. Returns how many it indexed.
    pub(crate) async fn backfill_search(&self) -> StoreResult<u64> {
        let mut count = 0;
        loop {
            let rows = self
                .db
                .rows(
                    "SELECT t.id FROM tickets t LEFT JOIN ticket_search s ON s.ticket = t.id \
                     WHERE s.ticket IS NULL LIMIT 200",
                    &[],
                    &[K::B],
                )
                .await?;
            if rows.is_empty() {
                return Ok(count);
            }
            for row in rows {
                let Some(id) = row.first().and_then(V::b) else {
                    continue;
                };
                let id =
                    TicketId(uuid::Uuid::from_slice(id).map_err(|_| {
                        ticketcore::StoreError::Backend("corrupt ticket id".into())
                    })?);
                let Some(ticket) = self.ticket(id).await? else {
                    continue;
                };
                let articles = self.articles(id).await?;
                self.replace_search(id, &SearchDoc::of(&ticket, &articles))
                    .await?;
                count += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn mysql_terms_carry_the_prefix() {
        assert_eq!(
            stored(Dialect::MySql, "pc 42 drucker"),
            "ttpc tt42 ttdrucker"
        );
        assert_eq!(stored(Dialect::MySql, ""), "");
        assert_eq!(stored(Dialect::Postgres, "pc 42"), "pc 42");
    }

    #[test]
    fn expressions_quote_phrases_in_each_dialect() {
        let phrases = vec![
            vec!["a".to_string()],
            vec!["b".to_string(), "c".to_string()],
        ];
        assert_eq!(
            expression(Dialect::Sqlite, &phrases, false),
            "\"a\" AND \"b c\""
        );
        assert_eq!(
            expression(Dialect::Sqlite, &phrases, true),
            "\"a\" OR \"b c\""
        );
        assert_eq!(
            expression(Dialect::Postgres, &phrases, false),
            "('a') & ('b' <-> 'c')"
        );
        assert_eq!(
            expression(Dialect::MySql, &phrases, false),
            "+\"tta\" +\"ttb ttc\""
        );
        assert_eq!(
            expression(Dialect::MySql, &phrases, true),
            "\"tta\" \"ttb ttc\""
        );
    }
}
