//! PostgreSQL's commit in one statement. Round trips, not rows, are what a commit costs when
//! many processes share one server: the careful path (read what is stored, plan, write table
//! by table, number the events) takes a dozen. Here the whole batch travels as column arrays
//! in one statement of data-modifying CTEs, run as its own transaction: the version
//! compare-and-swap, the unique indexes and the quota limits are checked by the database as
//! it writes, and any of them failing aborts the statement, after which the caller takes the
//! careful path to find out which change fails and why. The common case, nothing contended,
//! costs one round trip.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use sqlx::{AssertSqlSafe, Pool, Postgres, Row};
use ticketcore::{Change, Event, StoreResult, TicketId};

use crate::batch::{self, Known};
use crate::db::{Dialect, K, P, sql_err};
use crate::search;
use crate::{
    EVENT_NUMBERS, article_rows, blob_rows, encode, id_bytes, quota_units, tally_rows,
    ticket_params,
};

/// The SQLSTATE `ticketcore_expect` raises when a compare-and-swap or a quota did not hold.
const LOST: &str = "TC409";

/// The kinds of the ticket columns (`TICKET_COLUMNS`), then the expected version.
const TICKET_KINDS: [K; 17] = [
    K::B,
    K::T,
    K::I,
    K::T,
    K::I,
    K::I,
    K::I,
    K::I,
    K::I,
    K::T,
    K::T,
    K::T,
    K::I,
    K::I,
    K::I,
    K::T,
    K::I,
];

/// Which parts a batch needs: a statement leaves out the CTEs it has no rows for, since
/// starting each costs the server more than the rows do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    inserts: bool,
    updates: bool,
    articles: bool,
    blobs: bool,
    search: bool,
    tallies: bool,
    quotas: bool,
    /// Queues that may not be in `ticket_queues` yet.
    queues: bool,
}

/// The statement for `shape`. Event numbers are taken under the shared [`EVENT_NUMBERS`]
/// lock, in event order (ordinality; `nextval` is evaluated after the sort), and returned
/// sorted; the event documents carry no number (readers take it from the column). Parameters
/// come in this order: the lock, the ticket rows, then articles, blobs, quotas (each when the
/// shape has them), then events.
fn statement(shape: Shape) -> String {
    let mut n = 1;
    let mut next = |count: usize, types: &[&str]| -> String {
        (0..count)
            .map(|i| {
                n += 1;
                format!("${n}::{}[]", types[i % types.len()])
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tickets = next(
        17,
        &[
            "bytea", "text", "int8", "text", "int8", "int8", "int8", "int8", "int8", "text",
            "text", "text", "int8", "int8", "int8", "text", "int8",
        ],
    );
    let mut sql = format!(
        "WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared($1)),
written AS MATERIALIZED (
    SELECT * FROM unnest({tickets})
    AS w(id, number, version, queue, state_type, archived, urgency, created, locked, owner,
        customer, company, lock_due, pending_due, escalation_due, doc, expected)
)"
    );
    if shape.inserts {
        sql.push_str(
            ",
inserted AS (
    INSERT INTO tickets (id, number, version, queue, state_type, archived, urgency, created,
        locked, owner, customer, company, lock_due, pending_due, escalation_due, doc)
    SELECT id, number, version, queue, state_type, archived, urgency, created, locked, owner,
        customer, company, lock_due, pending_due, escalation_due, doc
    FROM written WHERE expected IS NULL
)",
        );
    }
    if shape.updates {
        sql.push_str(
            ",
updated AS (
    UPDATE tickets t SET version = w.version, queue = w.queue, state_type = w.state_type,
        archived = w.archived, urgency = w.urgency, created = w.created, locked = w.locked,
        owner = w.owner, customer = w.customer, company = w.company, lock_due = w.lock_due,
        pending_due = w.pending_due, escalation_due = w.escalation_due, doc = w.doc
    FROM written w
    WHERE w.expected IS NOT NULL AND t.id = w.id AND t.version = w.expected
    RETURNING t.id
)",
        );
    }
    if shape.queues {
        sql.push_str(
            ",
queued AS (
    INSERT INTO ticket_queues (queue) SELECT DISTINCT queue FROM written
    ON CONFLICT DO NOTHING
)",
        );
    }
    if shape.articles {
        let articles = next(5, &["bytea", "int8", "text", "text", "bool"]);
        sql.push_str(&format!(
            ",
appended AS (
    INSERT INTO articles (ticket, position, message_id, doc)
    SELECT a.ticket, a.position + CASE WHEN a.stored
            THEN COALESCE((SELECT MAX(x.position) + 1 FROM articles x WHERE x.ticket = a.ticket), 0)
            ELSE 0 END,
        a.message_id, a.doc
    FROM unnest({articles}) AS a(ticket, position, message_id, doc, stored)
)"
        ));
    }
    if shape.blobs {
        let blobs = next(2, &["text", "bytea"]);
        sql.push_str(&format!(
            ",
kept AS (
    INSERT INTO blobs (hash, data) SELECT * FROM unnest({blobs})
    ON CONFLICT DO NOTHING
)"
        ));
    }
    if shape.search {
        let rows = next(4, &["bytea", "text", "text", "text"]);
        sql.push_str(&format!(
            ",
searched AS (
    INSERT INTO ticket_search (ticket, head, public, internal)
    SELECT * FROM unnest({rows})
    {}
)",
            search::on_conflict(Dialect::Postgres)
        ));
    }
    if shape.tallies {
        let rows = next(2, &["text", "int8"]);
        sql.push_str(&format!(
            ",
tallied AS (
    INSERT INTO counters (name, value) SELECT * FROM unnest({rows})
    ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value
)"
        ));
    }
    let mut checks = vec!["0".to_string()];
    if shape.updates {
        checks.push(
            "ticketcore_expect((SELECT count(*) FROM updated),
        (SELECT count(*) FROM written WHERE expected IS NOT NULL))"
                .into(),
        );
    }
    if shape.quotas {
        let quotas = next(3, &["text", "int8", "int8"]);
        sql.push_str(&format!(
            ",
quotas AS MATERIALIZED (SELECT * FROM unnest({quotas}) AS q(name, units, most)),
counted AS (
    INSERT INTO counters (name, value) SELECT name, units FROM quotas
    ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value
    WHERE counters.value + excluded.value
        <= (SELECT q.most FROM quotas q WHERE q.name = excluded.name)
    RETURNING name
)"
        ));
        checks.push(
            "ticketcore_expect((SELECT count(*) FROM counted), (SELECT count(*) FROM quotas))"
                .into(),
        );
    }
    let events = next(2, &["bytea", "text"]);
    sql.push_str(&format!(
        ",
logged AS (
    INSERT INTO events (seq, ticket, doc)
    SELECT nextval('events_seq'), e.ticket, e.doc
    FROM held, unnest({events}) WITH ORDINALITY AS e(ticket, doc, n)
    ORDER BY e.n
    RETURNING seq
)
SELECT {}, ARRAY(SELECT seq FROM logged ORDER BY seq)",
        checks.join(" + ")
    ));
    sql
}

/// Binds `rows` column by column as arrays of the given kinds (moving the values: a batch's
/// documents are megabytes).
fn bind_columns<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    rows: Vec<Vec<P>>,
    kinds: &[K],
) -> Query<'q, Postgres, PgArguments> {
    let mut columns: Vec<Vec<P>> = kinds
        .iter()
        .map(|_| Vec::with_capacity(rows.len()))
        .collect();
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    for (column, kind) in columns.into_iter().zip(kinds) {
        let values = column.into_iter();
        query = match kind {
            K::I => query.bind(
                values
                    .map(|p| match p {
                        P::I(v) => Some(v),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            K::T => query.bind(
                values
                    .map(|p| match p {
                        P::T(v) => Some(v),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            K::B => query.bind(
                values
                    .map(|p| match p {
                        P::B(v) => v,
                        _ => Vec::new(),
                    })
                    .collect::<Vec<_>>(),
            ),
            K::F => query.bind(
                values
                    .map(|p| match p {
                        P::F(v) => Some(v),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
        };
    }
    query
}

/// Commits `changes` in one statement and returns each change's events, numbered; `None`
/// when the careful path must decide: a ticket written twice in the batch, a change refused
/// by the batch itself, or the database refusing the statement (a lost compare-and-swap, a
/// taken number or Message-ID, an exhausted quota, a deadlock), in which case nothing of it
/// was written.
pub(crate) async fn commit_at_once(
    pool: &Pool<Postgres>,
    known_queues: &Mutex<HashSet<String>>,
    changes: &[Change],
) -> StoreResult<Option<Vec<Vec<Event>>>> {
    // Updates are assumed to meet their versions (the database checks); creations are
    // checked against each other here, updates get their article positions from the
    // database.
    let mut assumed = Known::default();
    let mut written = HashSet::new();
    for w in changes.iter().flat_map(|c| &c.writes) {
        if !written.insert(w.ticket.id) {
            return Ok(None);
        }
        if let Some(version) = w.expected_version {
            let number = w.ticket.number.to_string();
            assumed.tickets.insert(w.ticket.id, (version, number));
        }
    }
    let stored: HashSet<TicketId> = assumed.tickets.keys().copied().collect();
    let plan = batch::plan(assumed, changes);
    if plan.outcomes.iter().any(Result::is_err) {
        return Ok(None);
    }
    let units = quota_units(changes.iter().map(|c| &c.quotas));
    if units.values().any(|(units, most)| units > most) {
        return Ok(None);
    }
    let mut tickets = Vec::with_capacity(plan.inserts.len() + plan.updates.len());
    for t in &plan.inserts {
        let mut row = ticket_params(t)?;
        row.push(P::NoI);
        tickets.push(row);
    }
    for (t, expected) in &plan.updates {
        let mut row = ticket_params(t)?;
        row.push(P::I(*expected as i64));
        tickets.push(row);
    }
    let articles = article_rows(&plan)?;
    let blobs = blob_rows(&plan);
    let searched = search::rows(Dialect::Postgres, &plan);
    let tallies = tally_rows(&plan);
    let quotas: Vec<Vec<P>> = units
        .iter()
        .map(|(key, (units, most))| {
            vec![
                P::T((*key).to_string()),
                P::I(*units as i64),
                P::I(*most as i64),
            ]
        })
        .collect();
    let mut events: Vec<Vec<Event>> = plan
        .outcomes
        .into_iter()
        .map(|o| o.unwrap_or_default())
        .collect();
    let logged: Vec<Vec<P>> = events
        .iter()
        .flatten()
        .map(|e| Ok(vec![P::B(id_bytes(e.ticket)), P::T(encode(e)?)]))
        .collect::<StoreResult<_>>()?;

    let shape = Shape {
        inserts: !plan.inserts.is_empty(),
        updates: !plan.updates.is_empty(),
        articles: !articles.is_empty(),
        blobs: !blobs.is_empty(),
        search: !searched.is_empty(),
        tallies: !tallies.is_empty(),
        quotas: !quotas.is_empty(),
        queues: {
            let known = known_queues.lock().unwrap_or_else(PoisonError::into_inner);
            plan.queues.iter().any(|q| !known.contains(*q))
        },
    };
    let sql = statement(shape);
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(EVENT_NUMBERS);
    query = bind_columns(query, tickets, &TICKET_KINDS);
    if shape.articles {
        query = bind_columns(query, articles, &[K::B, K::I, K::T, K::T]);
        query = query.bind(
            plan.articles
                .iter()
                .map(|(ticket, _, _)| stored.contains(ticket))
                .collect::<Vec<_>>(),
        );
    }
    if shape.blobs {
        query = bind_columns(query, blobs, &[K::T, K::B]);
    }
    if shape.search {
        query = bind_columns(query, searched, &[K::B, K::T, K::T, K::T]);
    }
    if shape.tallies {
        query = bind_columns(query, tallies, &[K::T, K::I]);
    }
    if shape.quotas {
        query = bind_columns(query, quotas, &[K::T, K::I, K::I]);
    }
    query = bind_columns(query, logged, &[K::B, K::T]);
    let row = match query.fetch_one(pool).await {
        Ok(row) => row,
        Err(e) => {
            let code = e.as_database_error().and_then(|d| d.code());
            // A lost compare-and-swap or quota, a unique index, a deadlock: the careful
            // path sorts it out, change by change.
            if matches!(code.as_deref(), Some(LOST | "23505" | "40P01" | "40001")) {
                tracing::debug!("one-statement commit refused: {e}");
                return Ok(None);
            }
            return Err(sql_err(e));
        }
    };
    if shape.queues {
        let mut known = known_queues.lock().unwrap_or_else(PoisonError::into_inner);
        known.extend(plan.queues.iter().map(|q| q.to_string()));
    }
    let numbers: Vec<i64> = row.try_get(1).map_err(sql_err)?;
    let mut numbers = numbers.into_iter();
    for e in events.iter_mut().flatten() {
        e.seq = numbers.next().unwrap_or_default() as u64;
    }
    Ok(Some(events))
}
