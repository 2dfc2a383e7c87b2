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
use sqlx::{Pool, Postgres, Row};
use ticketcore::{Change, Event, StoreResult, TicketId};

use crate::batch::{self, Known};
use crate::db::{K, P, sql_err};
use crate::{EVENT_NUMBERS, encode, id_bytes, quota_units, ticket_params};

/// The SQLSTATE `ticketcore_expect` raises when a compare-and-swap or a quota did not hold.
const LOST: &str = "TC409";

/// The statement. Event numbers are taken under the shared [`EVENT_NUMBERS`] lock, in event
/// order (ordinality; `nextval` is evaluated after the sort), and returned sorted; the event
/// documents carry no number (readers take it from the column).
const COMMIT: &str = "
WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared($1)),
written AS MATERIALIZED (
    SELECT * FROM unnest($2::bytea[], $3::text[], $4::int8[], $5::text[], $6::int8[],
        $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::text[], $12::text[], $13::text[],
        $14::int8[], $15::int8[], $16::int8[], $17::text[], $18::int8[])
    AS w(id, number, version, queue, state_type, archived, urgency, created, locked, owner,
        customer, company, lock_due, pending_due, escalation_due, doc, expected)
),
inserted AS (
    INSERT INTO tickets (id, number, version, queue, state_type, archived, urgency, created,
        locked, owner, customer, company, lock_due, pending_due, escalation_due, doc)
    SELECT id, number, version, queue, state_type, archived, urgency, created, locked, owner,
        customer, company, lock_due, pending_due, escalation_due, doc
    FROM written WHERE expected IS NULL
),
updated AS (
    UPDATE tickets t SET version = w.version, queue = w.queue, state_type = w.state_type,
        archived = w.archived, urgency = w.urgency, created = w.created, locked = w.locked,
        owner = w.owner, customer = w.customer, company = w.company, lock_due = w.lock_due,
        pending_due = w.pending_due, escalation_due = w.escalation_due, doc = w.doc
    FROM written w
    WHERE w.expected IS NOT NULL AND t.id = w.id AND t.version = w.expected
    RETURNING t.id
),
queued AS (
    INSERT INTO ticket_queues (queue) SELECT DISTINCT queue FROM written
    ON CONFLICT DO NOTHING
),
appended AS (
    INSERT INTO articles (ticket, position, message_id, doc)
    SELECT a.ticket, a.position + CASE WHEN a.stored
            THEN COALESCE((SELECT MAX(x.position) + 1 FROM articles x WHERE x.ticket = a.ticket), 0)
            ELSE 0 END,
        a.message_id, a.doc
    FROM unnest($19::bytea[], $20::int8[], $21::text[], $22::text[], $23::bool[])
        AS a(ticket, position, message_id, doc, stored)
),
kept AS (
    INSERT INTO blobs (hash, data) SELECT * FROM unnest($24::text[], $25::bytea[])
    ON CONFLICT DO NOTHING
),
quotas AS MATERIALIZED (
    SELECT * FROM unnest($26::text[], $27::int8[], $28::int8[]) AS q(name, units, most)
),
counted AS (
    INSERT INTO counters (name, value) SELECT name, units FROM quotas
    ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value
    WHERE counters.value + excluded.value
        <= (SELECT q.most FROM quotas q WHERE q.name = excluded.name)
    RETURNING name
),
logged AS (
    INSERT INTO events (seq, ticket, doc)
    SELECT nextval('events_seq'), e.ticket, e.doc
    FROM held, unnest($29::bytea[], $30::text[]) WITH ORDINALITY AS e(ticket, doc, n)
    ORDER BY e.n
    RETURNING seq
)
SELECT ticketcore_expect((SELECT count(*) FROM updated),
        (SELECT count(*) FROM written WHERE expected IS NOT NULL))
    + ticketcore_expect((SELECT count(*) FROM counted), (SELECT count(*) FROM quotas)),
    ARRAY(SELECT seq FROM logged ORDER BY seq)
";

/// Binds `rows` column by column as arrays of the given kinds.
fn bind_columns<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    rows: &[Vec<P>],
    kinds: &[K],
) -> Query<'q, Postgres, PgArguments> {
    for (column, kind) in kinds.iter().enumerate() {
        let values = rows.iter().map(|row| row.get(column));
        query = match kind {
            K::I => query.bind(
                values
                    .map(|p| match p {
                        Some(P::I(v)) => Some(*v),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            K::T => query.bind(
                values
                    .map(|p| match p {
                        Some(P::T(v)) => Some(v.clone()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            K::B => query.bind(
                values
                    .map(|p| match p {
                        Some(P::B(v)) => v.clone(),
                        _ => Vec::new(),
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
    changes: &[Change],
) -> StoreResult<Option<Vec<Vec<Event>>>> {
    // Updates are assumed to meet their versions (the database checks); creations are
    // checked against each other here, updates get their article positions from the
    // database.
    let mut assumed = Known::default();
    let mut written = std::collections::HashSet::new();
    for w in changes.iter().flat_map(|c| &c.writes) {
        if !written.insert(w.ticket.id) {
            return Ok(None);
        }
        if let Some(version) = w.expected_version {
            let number = w.ticket.number.to_string();
            assumed.tickets.insert(w.ticket.id, (version, number));
        }
    }
    let stored: std::collections::HashSet<TicketId> = assumed.tickets.keys().copied().collect();
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
    let articles: Vec<Vec<P>> = plan
        .articles
        .iter()
        .map(|(ticket, position, a)| {
            Ok(vec![
                P::B(id_bytes(*ticket)),
                P::I(*position),
                P::ot(a.message_id.as_deref()),
                P::T(encode(a)?),
            ])
        })
        .collect::<StoreResult<_>>()?;
    let blobs: Vec<Vec<P>> = plan
        .blobs
        .iter()
        .map(|b| vec![P::T(b.hash.0.clone()), P::B(b.data.clone())])
        .collect();
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

    let ticket_kinds = [
        [K::B, K::T].as_slice(),
        &[K::I, K::T],
        &[K::I; 5],
        &[K::T; 3],
        &[K::I; 3],
        &[K::T, K::I],
    ]
    .concat();
    let mut query = sqlx::query(COMMIT).bind(EVENT_NUMBERS);
    query = bind_columns(query, &tickets, &ticket_kinds);
    query = bind_columns(query, &articles, &[K::B, K::I, K::T, K::T]);
    query = query.bind(
        plan.articles
            .iter()
            .map(|(ticket, _, _)| stored.contains(ticket))
            .collect::<Vec<_>>(),
    );
    query = bind_columns(query, &blobs, &[K::T, K::B]);
    query = bind_columns(query, &quotas, &[K::T, K::I, K::I]);
    query = bind_columns(query, &logged, &[K::B, K::T]);
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
    let numbers: Vec<i64> = row.try_get(1).map_err(sql_err)?;
    let mut numbers = numbers.into_iter();
    for e in events.iter_mut().flatten() {
        e.seq = numbers.next().unwrap_or_default() as u64;
    }
    Ok(Some(events))
}
