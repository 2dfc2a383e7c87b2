//! Search on redb: a tantivy index beside the file, derived from the tickets and their
//! articles through the library's analyzer (the commit itself writes nothing for search: the
//! one writer thread bounds every redb store's throughput). The index is derived data: it
//! records in its commit payload the event up to which it holds every ticket, and catches up
//! from the event log (each event names its ticket, which is indexed again whole: terms,
//! queue, state, owner, customer, creation time). A background thread follows commits so the
//! index stays close behind; a search first catches up to the log's end, so it never misses
//! a committed ticket. An index that is missing, damaged or of another schema is rebuilt
//! from the database when the store opens.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use std::collections::{HashMap, HashSet};

use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::index::SegmentId;
use tantivy::merge_policy::NoMergePolicy;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};
use tantivy::{DocId, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use ticketcore::{
    EventKind, SearchHit, SearchPage, SearchQuery, StoreError, StoreResult, Ticket, TicketId,
};

use crate::snapshot::Snapshots;
use crate::tables::Reader;

/// The tokenizer of the term fields: the analyzer already made the terms. Its name carries
/// the analyzer's version, so an index of older terms is of another schema and rebuilt.
fn tokenizer() -> String {
    format!("terms{}", ticketcore::analyzer::VERSION)
}
/// Events read per catch-up step.
const STEP: usize = 4096;
/// How long the background indexer lets added documents wait before it commits them, so a
/// bulk import makes few, large segments.
const SETTLE: Duration = Duration::from_millis(500);
/// Commits closer together than this are a burst, which the background indexer lets pass.
const QUIET: Duration = Duration::from_millis(100);
/// The longest the background indexer lets a burst pass before it indexes what it brought.
const MAX_DEFER: Duration = Duration::from_secs(5);
/// The index writer's memory budget.
const BUDGET: usize = 48 << 20;

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    id_hi: Field,
    id_lo: Field,
    created: Field,
    queue: Field,
    state_type: Field,
    owner: Field,
    customer: Field,
    company: Field,
    head: Field,
    public: Field,
    internal: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let terms = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(&tokenizer())
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        id_hi: b.add_u64_field("id_hi", FAST),
        id_lo: b.add_u64_field("id_lo", FAST),
        created: b.add_i64_field("created", FAST | INDEXED),
        queue: b.add_text_field("queue", STRING),
        state_type: b.add_text_field("state_type", STRING),
        owner: b.add_text_field("owner", STRING),
        customer: b.add_text_field("customer", STRING),
        company: b.add_text_field("company", STRING),
        head: b.add_text_field("head", terms.clone()),
        public: b.add_text_field("public", terms.clone()),
        internal: b.add_text_field("internal", terms),
    };
    (b.build(), fields)
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("search index: {e}"))
}

/// Microseconds since the epoch: the index's time scale.
fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

fn halves(id: TicketId) -> (u64, u64) {
    let v = id.0.as_u128();
    ((v >> 64) as u64, v as u64)
}

/// The index and how far it has come.
struct Indexer {
    writer: IndexWriter,
    /// Every ticket of events up to here is added (perhaps not yet committed).
    added: u64,
    /// Every ticket of events up to here is searchable.
    committed: u64,
    /// Tickets to index again whatever the log says (their terms were replaced).
    pending: BTreeSet<TicketId>,
    /// When documents were first added after the last commit.
    dirty_since: Option<Instant>,
}

/// The tantivy index of a redb store.
pub(crate) struct SearchIndex {
    reader: IndexReader,
    /// A bulk import's index: segments added, never merged, and read afresh only when
    /// searched (reloading the reader at every commit opens every segment, whose pages then
    /// stay mapped).
    bulk: bool,
    fields: Fields,
    indexer: Mutex<Indexer>,
    kicked: Mutex<bool>,
    wake: Condvar,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchIndex")
    }
}

impl SearchIndex {
    /// Opens the index in `dir` (or in memory for `None`), rebuilding it from `snapshot`
    /// when it is missing, damaged or of another schema, and catching it up otherwise.
    /// Opens (or rebuilds) the index in `dir`, in memory for `None`, for an importing process
    /// or as usual (see `RedbOptions::importing`).
    pub fn open(
        dir: Option<&Path>,
        snapshot: &Reader,
        importing: bool,
    ) -> StoreResult<SearchIndex> {
        let (schema, fields) = schema();
        let (index, fresh) = match dir {
            None => (Index::create_in_ram(schema.clone()), true),
            Some(dir) => match Index::open_in_dir(dir) {
                Ok(index) if index.schema() == schema => (index, false),
                opened => {
                    if let Err(e) = opened {
                        tracing::warn!("rebuilding the search index {}: {e}", dir.display());
                    }
                    let _ = std::fs::remove_dir_all(dir);
                    std::fs::create_dir_all(dir).map_err(failed)?;
                    (
                        Index::create_in_dir(dir, schema.clone()).map_err(failed)?,
                        true,
                    )
                }
            },
        };
        index.tokenizers().register(
            &tokenizer(),
            TextAnalyzer::from(WhitespaceTokenizer::default()),
        );
        let payload = index.load_metas().map_err(failed)?.payload;
        let committed = match payload.as_deref().map(str::parse::<u64>) {
            Some(Ok(seq)) if !fresh => Some(seq),
            _ => None,
        };
        let writer: IndexWriter = index.writer_with_num_threads(1, BUDGET).map_err(failed)?;
        if importing {
            writer.set_merge_policy(Box::new(NoMergePolicy));
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(failed)?;
        let this = SearchIndex {
            reader,
            bulk: importing,
            fields,
            indexer: Mutex::new(Indexer {
                writer,
                added: committed.unwrap_or(0),
                committed: committed.unwrap_or(0),
                pending: BTreeSet::new(),
                dirty_since: None,
            }),
            kicked: Mutex::new(false),
            wake: Condvar::new(),
        };
        match committed {
            Some(_) => this.catch_up(snapshot, true)?,
            None => this.rebuild(snapshot)?,
        }
        Ok(this)
    }

    fn lock(&self) -> MutexGuard<'_, Indexer> {
        self.indexer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Indexes every ticket of `snapshot` afresh.
    fn rebuild(&self, snapshot: &Reader) -> StoreResult<()> {
        let mut indexer = self.lock();
        let last = snapshot.last_seq()?;
        indexer.writer.delete_all_documents().map_err(failed)?;
        let mut query = ticketcore::TicketQuery {
            archived: None,
            limit: 1000,
            ..ticketcore::TicketQuery::default()
        };
        let mut count = 0u64;
        loop {
            let page = snapshot.query(&query)?;
            for ticket in &page.tickets {
                self.add(&indexer.writer, snapshot, ticket, false)?;
                count += 1;
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        indexer.added = last;
        indexer.dirty_since = Some(Instant::now());
        self.commit(&mut indexer)?;
        if count > 0 {
            tracing::info!("indexed {count} tickets for search");
        }
        Ok(())
    }

    /// Adds the ticket's document, replacing the one it had with `replace`.
    fn add(
        &self,
        writer: &IndexWriter,
        snapshot: &Reader,
        ticket: &Ticket,
        replace: bool,
    ) -> StoreResult<()> {
        let f = &self.fields;
        let id = ticket.id.to_string();
        if replace {
            writer.delete_term(Term::from_field_text(f.id, &id));
        }
        let terms = snapshot.search_doc(ticket)?;
        let (hi, lo) = halves(ticket.id);
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &id);
        doc.add_u64(f.id_hi, hi);
        doc.add_u64(f.id_lo, lo);
        doc.add_i64(f.created, micros(ticket.created));
        doc.add_text(f.queue, &ticket.queue);
        doc.add_text(f.state_type, ticket.state_type.as_str());
        if let Some(owner) = &ticket.owner {
            doc.add_text(f.owner, owner);
        }
        if let Some(customer) = &ticket.customer {
            doc.add_text(f.customer, customer);
        }
        if let Some(company) = &ticket.customer_company {
            doc.add_text(f.company, company);
        }
        doc.add_text(f.head, &terms.head);
        doc.add_text(f.public, &terms.public);
        doc.add_text(f.internal, &terms.internal);
        writer.add_document(doc).map_err(failed)?;
        Ok(())
    }

    fn commit(&self, indexer: &mut Indexer) -> StoreResult<()> {
        let added = indexer.added;
        let mut prepared = indexer.writer.prepare_commit().map_err(failed)?;
        prepared.set_payload(&added.to_string());
        prepared.commit().map_err(failed)?;
        if !self.bulk {
            self.reader.reload().map_err(failed)?;
        }
        indexer.committed = added;
        indexer.dirty_since = None;
        Ok(())
    }

    /// Adds what the log has beyond what is indexed; commits when `now`, or when added
    /// documents have waited [`SETTLE`]. Returns whether it found more in the log.
    fn step(&self, snapshot: &Reader, now: bool) -> StoreResult<bool> {
        let mut indexer = self.lock();
        let events = snapshot.events_since(indexer.added, STEP)?;
        let pending = std::mem::take(&mut indexer.pending);
        // Tickets created in this step have no document to replace yet: a delete of each
        // would cost a term lookup in every segment at the next commit.
        let created: BTreeSet<TicketId> = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::NewTicket { .. }))
            .map(|e| e.ticket)
            .filter(|id| !pending.contains(id))
            .collect();
        let mut tickets = pending;
        tickets.extend(events.iter().map(|e| e.ticket));
        for id in &tickets {
            if let Some(ticket) = snapshot.ticket(*id)? {
                self.add(&indexer.writer, snapshot, &ticket, !created.contains(id))?;
            }
        }
        if let Some(last) = events.last() {
            indexer.added = last.seq;
        }
        if !tickets.is_empty() && indexer.dirty_since.is_none() {
            indexer.dirty_since = Some(Instant::now());
        }
        let settled = indexer.dirty_since.is_some_and(|t| t.elapsed() >= SETTLE);
        if indexer.dirty_since.is_some() && (now || settled) {
            self.commit(&mut indexer)?;
        }
        Ok(events.len() == STEP)
    }

    /// Adds and commits everything up to the end of `snapshot`'s log.
    fn catch_up(&self, snapshot: &Reader, now: bool) -> StoreResult<()> {
        while self.step(snapshot, false)? {}
        if now {
            let mut indexer = self.lock();
            if indexer.dirty_since.is_some() || indexer.committed < indexer.added {
                self.commit(&mut indexer)?;
            }
        }
        Ok(())
    }

    /// Commits (which starts tantivy's indexing workers from the calling thread).
    fn restart_workers(&self) -> StoreResult<()> {
        let mut indexer = self.lock();
        self.commit(&mut indexer)
    }

    /// Waits up to `wait` for a kick; whether there was one (and it is taken).
    fn kicked_within(&self, wait: Duration) -> bool {
        let mut kicked = self.kicked.lock().unwrap_or_else(|e| e.into_inner());
        if !*kicked {
            kicked = self
                .wake
                .wait_timeout(kicked, wait)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        std::mem::replace(&mut *kicked, false)
    }

    /// Says that commits happened: the background indexer looks.
    pub fn kick(&self) {
        *self.kicked.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_one();
    }

    /// Indexes `ticket` again at the next step (its terms were replaced).
    pub fn refresh(&self, ticket: TicketId) {
        self.lock().pending.insert(ticket);
        self.kick();
    }

    /// One page of `q` against `snapshot`, after catching up to its log's end.
    pub fn search(&self, snapshot: &Reader, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.catch_up(snapshot, true)?;
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let parts: Vec<(Field, f32)> = [(f.head, 3.0), (f.public, 1.0)]
            .into_iter()
            .chain(q.internal.then_some((f.internal, 1.0)))
            .collect();
        let phrase = |phrase: &[String]| -> Box<dyn Query> {
            let per_part = parts
                .iter()
                .map(|&(field, boost)| {
                    let query: Box<dyn Query> = match phrase {
                        [term] => Box::new(TermQuery::new(
                            Term::from_field_text(field, term),
                            IndexRecordOption::WithFreqs,
                        )),
                        terms => Box::new(PhraseQuery::new(
                            terms
                                .iter()
                                .map(|t| Term::from_field_text(field, t))
                                .collect(),
                        )),
                    };
                    let boosted: Box<dyn Query> = Box::new(BoostQuery::new(query, boost));
                    (Occur::Should, boosted)
                })
                .collect();
            Box::new(BooleanQuery::new(per_part))
        };
        for p in q.all.iter().filter(|p| !p.is_empty()) {
            clauses.push((Occur::Must, phrase(p)));
        }
        // Excluded words are part of the query; excluded phrases are looked up first and
        // their tickets cut in the collector (tantivy's phrase scorer misbehaves under
        // MustNot).
        if self.bulk {
            self.reader.reload().map_err(failed)?;
        }
        let searcher = self.reader.searcher();
        let mut excluded: HashMap<SegmentId, HashSet<DocId>> = HashMap::new();
        for p in q.none.iter().filter(|p| !p.is_empty()) {
            if p.len() == 1 {
                clauses.push((Occur::MustNot, phrase(p)));
                continue;
            }
            for address in searcher
                .search(&*phrase(p), &DocSetCollector)
                .map_err(failed)?
            {
                let segment = searcher.segment_reader(address.segment_ord).segment_id();
                excluded.entry(segment).or_default().insert(address.doc_id);
            }
        }
        let mut filter = |query: Box<dyn Query>| {
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0))));
        };
        if q.all.is_empty() {
            filter(Box::new(AllQuery));
        }
        let one_of = |field: Field, values: &mut dyn Iterator<Item = &str>| -> Box<dyn Query> {
            Box::new(TermSetQuery::new(
                values.map(|v| Term::from_field_text(field, v)),
            ))
        };
        if let Some(queues) = &q.queues {
            if queues.is_empty() {
                return Ok(SearchPage::default());
            }
            filter(one_of(f.queue, &mut queues.iter().map(String::as_str)));
        }
        if let Some(types) = &q.state_types {
            if types.is_empty() {
                return Ok(SearchPage::default());
            }
            filter(one_of(f.state_type, &mut types.iter().map(|t| t.as_str())));
        }
        if let Some(owner) = &q.owner {
            filter(Box::new(TermQuery::new(
                Term::from_field_text(f.owner, owner),
                IndexRecordOption::Basic,
            )));
        }
        if let Some(scope) = &q.customer {
            let mut either: Vec<(Occur, Box<dyn Query>)> = vec![(
                Occur::Should,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.customer, &scope.login),
                    IndexRecordOption::Basic,
                )),
            )];
            if let Some(company) = &scope.company {
                either.push((
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.company, company),
                        IndexRecordOption::Basic,
                    )),
                ));
            }
            filter(Box::new(BooleanQuery::new(either)));
        }
        if q.created_from.is_some() || q.created_before.is_some() {
            let bound = |t: Option<chrono::DateTime<chrono::Utc>>, inclusive: bool| match t {
                None => Bound::Unbounded,
                Some(t) if inclusive => Bound::Included(Term::from_field_i64(f.created, micros(t))),
                Some(t) => Bound::Excluded(Term::from_field_i64(f.created, micros(t))),
            };
            filter(Box::new(RangeQuery::new(
                bound(q.created_from, true),
                bound(q.created_before, false),
            )));
        }
        let query = BooleanQuery::new(clauses);
        let after = q.after.map(|a| {
            let (hi, lo) = halves(a.id);
            (a.score as f32, micros(a.created), hi, lo)
        });
        let limit = q.limit.saturating_add(1).max(1);
        let collector =
            TopDocs::with_limit(limit).tweak_score(move |segment: &tantivy::SegmentReader| {
                let cut = excluded
                    .get(&segment.segment_id())
                    .cloned()
                    .unwrap_or_default();
                let fast = segment.fast_fields();
                let created = fast.i64("created").ok().map(|c| c.first_or_default_col(0));
                let hi = fast.u64("id_hi").ok().map(|c| c.first_or_default_col(0));
                let lo = fast.u64("id_lo").ok().map(|c| c.first_or_default_col(0));
                move |doc: tantivy::DocId, score: tantivy::Score| {
                    let key = (
                        score,
                        created.as_ref().map_or(0, |c| c.get_val(doc)),
                        hi.as_ref().map_or(0, |c| c.get_val(doc)),
                        lo.as_ref().map_or(0, |c| c.get_val(doc)),
                    );
                    // Hits at or before the page position rank below every other and are cut.
                    (after.is_none_or(|a| key < a) && !cut.contains(&doc), key)
                }
            });
        let found = searcher.search(&query, &collector).map_err(failed)?;
        let mut hits = Vec::with_capacity(found.len());
        for ((valid, (score, _, hi, lo)), _) in found {
            if !valid {
                continue;
            }
            let id = TicketId(uuid::Uuid::from_u128(
                (u128::from(hi) << 64) | u128::from(lo),
            ));
            if let Some(ticket) = snapshot.ticket(id)? {
                hits.push(SearchHit {
                    ticket,
                    score: f64::from(score),
                });
            }
        }
        Ok(SearchPage::cut(hits, q.limit))
    }

    /// Where the index of the database file `path` lives.
    pub fn dir_of(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_os_string();
        name.push(".search");
        PathBuf::from(name)
    }
}

/// Runs the background indexer until the store is dropped: what makes the first search
/// after a bulk import quick.
pub(crate) struct Follower {
    index: Arc<SearchIndex>,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<Mutex<bool>>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("search::Follower")
    }
}

impl Follower {
    pub fn start(index: Arc<SearchIndex>, snapshots: Weak<Snapshots>) -> Follower {
        let stop = Arc::new(Mutex::new(false));
        let (idx, halt) = (index.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ticketcore-search".into())
            .spawn(move || follow(&idx, &snapshots, &halt))
            .ok();
        Follower {
            index,
            thread,
            stop,
        }
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }
}

/// How much nicer than the store's own threads the background indexer runs (Linux nice
/// levels): it yields the CPU to commits and readers, so a bulk import runs at nearly the
/// speed it has without search, and the index catches up when the import pauses (a search
/// in between catches up itself, at its caller's priority).
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: i32 = 19;

/// Lowers the calling thread's priority (threads it starts inherit it); where that is not
/// possible the indexer runs at normal priority, which costs speed, not correctness.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), BACKGROUND_NICE) {
            tracing::debug!("the search indexer runs at normal priority: {e}");
        }
    }
}

fn follow(index: &SearchIndex, snapshots: &Weak<Snapshots>, stop: &Mutex<bool>) {
    lower_priority();
    // tantivy's indexing workers are started by whoever commits: start them afresh from this
    // thread, so they run at its priority too.
    if let Err(e) = index.restart_workers() {
        tracing::warn!("search indexing failed, retrying: {e}");
    }
    let stopped = || *stop.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        index.kicked_within(SETTLE);
        // Commits in a burst (an import) are indexed when it pauses, or after MAX_DEFER:
        // indexing alongside them would slow every commit.
        let deferred = Instant::now();
        while deferred.elapsed() < MAX_DEFER && !stopped() && index.kicked_within(QUIET) {}
        if stopped() {
            return;
        }
        let Some(snapshots) = snapshots.upgrade() else {
            return;
        };
        let result = snapshots
            .reader()
            .and_then(|reader| while_more(index, &reader));
        if let Err(e) = result {
            tracing::warn!("search indexing failed, retrying: {e}");
        }
    }
}

fn while_more(index: &SearchIndex, reader: &Reader) -> StoreResult<()> {
    while index.step(reader, false)? {}
    Ok(())
}

impl Drop for Follower {
    fn drop(&mut self) {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.index.kick();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // What was added but not committed waits for the next open's catch-up.
    }
}
