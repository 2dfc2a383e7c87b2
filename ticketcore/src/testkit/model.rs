//! The state-machine test: random operation sequences run against the backend under test and
//! against [`MemoryStore`](crate::MemoryStore) side by side, with the same clock and the same
//! entropy; every result, every page and every event must be identical, and the invariants
//! (unique numbers, gap-free event log seen exactly once, complete ordered history) must hold.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{AGENTS, Backend, CUSTOMERS, Memory, QUEUES, desk_with, fixture_config};
use crate::article::{Channel, Message};
use crate::clock::{ManualClock, SeededEntropy};
use crate::desk::Desk;
use crate::error::Result;
use crate::event::Actor;
use crate::rules::{NewTicket, Op};
use crate::store::{Store, TicketPage, TicketQuery};
use crate::ticket::{Priority, TicketId};

/// Who performs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// An agent of the fixture, by index.
    Agent(usize),
    /// A customer of the fixture, by index.
    Customer(usize),
    /// The system.
    System,
}

impl Who {
    fn actor(self) -> Actor {
        match self {
            Who::Agent(i) => Actor::agent(AGENTS[i % AGENTS.len()]),
            Who::Customer(i) => Actor::customer(CUSTOMERS[i % CUSTOMERS.len()]),
            Who::System => Actor::System,
        }
    }
}

/// One generated operation. Tickets are named by index into the tickets created so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a ticket.
    Create {
        /// Creator.
        by: Who,
        /// Queue index.
        queue: usize,
        /// Priority.
        priority: u8,
        /// Customer index.
        customer: usize,
    },
    /// Apply an operation.
    Apply {
        /// Actor.
        by: Who,
        /// Ticket index.
        ticket: usize,
        /// The operation (article ids are filled in when run).
        op: StepOp,
    },
    /// A customer follow-up.
    FollowUp {
        /// Sender.
        by: Who,
        /// Ticket index.
        ticket: usize,
        /// Flag as unknown sender.
        unknown: bool,
    },
    /// Merge one ticket into another.
    Merge {
        /// Actor.
        by: Who,
        /// Source index.
        source: usize,
        /// Target index.
        target: usize,
    },
    /// Split the first article off into a queue.
    Split {
        /// Actor.
        by: Who,
        /// Ticket index.
        ticket: usize,
        /// Queue index.
        queue: usize,
    },
    /// Page through a queue view.
    Query {
        /// Viewer.
        by: Who,
        /// Page size.
        limit: usize,
        /// Only open and new tickets.
        active_only: bool,
        /// Only unlocked tickets.
        unlocked: bool,
    },
    /// Let time pass.
    Advance {
        /// Minutes.
        minutes: i64,
    },
    /// Let time pass, then run maintenance on both desks.
    Tick {
        /// Minutes.
        minutes: i64,
    },
}

/// The single-ticket operations the model generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOp {
    /// Lock.
    Lock,
    /// Unlock.
    Unlock,
    /// Move to queue index.
    Move(usize),
    /// Set state by name, pending states get a time `minutes` ahead.
    State(&'static str, i64),
    /// Set priority.
    Priority(u8),
    /// Note, optionally visible and notifying an agent.
    Note(bool, Option<usize>),
    /// Reply.
    Reply,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        4 => (0usize..AGENTS.len()).prop_map(Who::Agent),
        2 => (0usize..CUSTOMERS.len()).prop_map(Who::Customer),
        1 => Just(Who::System),
    ]
}

fn step_op() -> impl Strategy<Value = StepOp> {
    prop_oneof![
        3 => Just(StepOp::Lock),
        2 => Just(StepOp::Unlock),
        2 => (0usize..QUEUES.len()).prop_map(StepOp::Move),
        3 => (
            select(vec![
                "open",
                "pending reminder",
                "pending auto close+",
                "closed successful",
                "closed unsuccessful",
                "removed",
                "new",
                "merged",
            ]),
            1i64..5000,
        )
            .prop_map(|(s, m)| StepOp::State(s, m)),
        2 => (1u8..=5).prop_map(StepOp::Priority),
        3 => (any::<bool>(), proptest::option::of(0usize..AGENTS.len()))
            .prop_map(|(v, n)| StepOp::Note(v, n)),
        2 => Just(StepOp::Reply),
    ]
}

/// The strategy for one step.
pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (who(), 0usize..QUEUES.len(), 1u8..=5, 0usize..CUSTOMERS.len()).prop_map(
            |(by, queue, priority, customer)| Step::Create { by, queue, priority, customer }
        ),
        12 => (who(), 0usize..64, step_op()).prop_map(|(by, ticket, op)| Step::Apply { by, ticket, op }),
        2 => (who(), 0usize..64, any::<bool>())
            .prop_map(|(by, ticket, unknown)| Step::FollowUp { by, ticket, unknown }),
        1 => (who(), 0usize..64, 0usize..64)
            .prop_map(|(by, source, target)| Step::Merge { by, source, target }),
        1 => (who(), 0usize..64, 0usize..QUEUES.len())
            .prop_map(|(by, ticket, queue)| Step::Split { by, ticket, queue }),
        2 => (who(), 1usize..6, any::<bool>(), any::<bool>()).prop_map(
            |(by, limit, active_only, unlocked)| Step::Query { by, limit, active_only, unlocked }
        ),
        1 => (1i64..3000).prop_map(|minutes| Step::Advance { minutes }),
        3 => (0i64..1500).prop_map(|minutes| Step::Tick { minutes }),
    ]
}

/// The reference machine only counts steps: the model it checks against is MemoryStore itself,
/// run in the system under test beside the backend.
#[derive(Debug)]
pub struct Reference;

impl ReferenceStateMachine for Reference {
    type State = usize;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<usize> {
        Just(0).boxed()
    }

    fn transitions(state: &usize) -> BoxedStrategy<Step> {
        if *state == 0 {
            // Start with something to work on.
            (
                who(),
                0usize..QUEUES.len(),
                1u8..=5,
                0usize..CUSTOMERS.len(),
            )
                .prop_map(|(by, queue, priority, customer)| Step::Create {
                    by,
                    queue,
                    priority,
                    customer,
                })
                .boxed()
        } else {
            step().boxed()
        }
    }

    fn apply(state: usize, _: &Step) -> usize {
        state + 1
    }
}

/// The two desks under comparison.
pub struct Pair {
    rt: tokio::runtime::Runtime,
    model: Desk,
    backend: Desk,
    backend_store: Arc<dyn Store>,
    model_store: Arc<dyn Store>,
    clock: ManualClock,
    tickets: Vec<TicketId>,
    seen: std::cell::Cell<u64>,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("tickets", &self.tickets)
            .finish()
    }
}

/// The state-machine test over backend `B`.
#[derive(Debug)]
pub struct Conformance<B>(std::marker::PhantomData<B>);

async fn make_desk(store: Arc<dyn Store>, clock: &ManualClock) -> Desk {
    let (desk, _) = desk_with(store, fixture_config(), 42).await;
    desk.with_clock(Arc::new(clock.clone()))
        .with_entropy(Arc::new(SeededEntropy::new(42)))
}

impl Pair {
    fn ticket(&self, index: usize) -> Option<TicketId> {
        (!self.tickets.is_empty()).then(|| self.tickets[index % self.tickets.len()])
    }

    /// Runs `f` on both desks and requires identical results.
    fn both<T, F>(&mut self, f: F) -> Result<T>
    where
        T: PartialEq + std::fmt::Debug,
        F: for<'a> Fn(&'a Desk) -> std::pin::Pin<Box<dyn Future<Output = Result<T>> + 'a>>,
    {
        let expected = self.rt.block_on(f(&self.model));
        let actual = self.rt.block_on(f(&self.backend));
        assert_eq!(actual, expected, "backend and MemoryStore disagree");
        actual
    }

    fn page_all(&mut self, by: Who, query: TicketQuery) -> Vec<TicketPage> {
        let actor = by.actor();
        let mut pages = Vec::new();
        let mut query = query;
        loop {
            let q = query.clone();
            let a = actor.clone();
            let page = self
                .both(move |d| {
                    let (q, a) = (q.clone(), a.clone());
                    Box::pin(async move { d.queue_view(&a, q).await })
                })
                .expect("queue view");
            let next = page.next;
            pages.push(page);
            match next {
                Some(key) if pages.len() < 200 => query.after = Some(key),
                _ => break,
            }
        }
        pages
    }

    fn run(&mut self, step: Step) {
        let new_ticket = match step {
            Step::Create {
                by,
                queue,
                priority,
                customer,
            } => {
                let mut input = NewTicket::new(
                    QUEUES[queue],
                    format!("ticket {}", self.tickets.len()),
                    Channel::Web,
                    Message::text("help"),
                );
                input.priority = Priority::new(priority).ok();
                if by != Who::Customer(customer) {
                    input.customer = Some(CUSTOMERS[customer].to_string());
                }
                let actor = by.actor();
                self.both(move |d| {
                    let (input, actor) = (input.clone(), actor.clone());
                    Box::pin(async move { d.create_ticket(&actor, input).await })
                })
                .ok()
                .map(|c| c.ticket.id)
            }
            Step::Apply { by, ticket, op } => {
                let Some(id) = self.ticket(ticket) else {
                    return;
                };
                let article = self.model.new_article_id();
                // Keep the backend desk's entropy in step with the model's.
                self.backend.new_article_id();
                let now = self.model.now();
                let op = match op {
                    StepOp::Lock => Op::Lock,
                    StepOp::Unlock => Op::Unlock,
                    StepOp::Move(q) => Op::Move {
                        queue: QUEUES[q].into(),
                    },
                    StepOp::State(state, minutes) => Op::SetState {
                        state: state.into(),
                        pending_until: Some(now + Duration::minutes(minutes)),
                    },
                    StepOp::Priority(p) => Op::SetPriority {
                        priority: Priority::new(p).unwrap_or_default(),
                    },
                    StepOp::Note(visible, notify) => Op::Note {
                        article,
                        message: Message::text("note"),
                        visible_to_customer: visible,
                        notify: notify.map(|n| AGENTS[n].to_string()).into_iter().collect(),
                    },
                    StepOp::Reply => Op::Reply {
                        article,
                        message: Message::text("answer"),
                        channel: Channel::Email,
                        next_state: None,
                        faq: None,
                    },
                };
                let actor = by.actor();
                let _ = self.both(move |d| {
                    let (op, actor) = (op.clone(), actor.clone());
                    Box::pin(async move { d.apply(&actor, id, op).await })
                });
                None
            }
            Step::FollowUp {
                by,
                ticket,
                unknown,
            } => {
                let Some(id) = self.ticket(ticket) else {
                    return;
                };
                let actor = by.actor();
                self.both(move |d| {
                    let actor = actor.clone();
                    Box::pin(async move {
                        d.follow_up(&actor, id, Message::text("more"), Channel::Web, unknown)
                            .await
                    })
                })
                .ok()
                .map(|f| f.committed.ticket.id)
            }
            Step::Merge { by, source, target } => {
                let (Some(s), Some(t)) = (self.ticket(source), self.ticket(target)) else {
                    return;
                };
                let actor = by.actor();
                let _ = self.both(move |d| {
                    let actor = actor.clone();
                    Box::pin(async move { d.merge(&actor, s, t).await })
                });
                None
            }
            Step::Split { by, ticket, queue } => {
                let Some(id) = self.ticket(ticket) else {
                    return;
                };
                let first = self
                    .rt
                    .block_on(self.model_store.articles(id))
                    .expect("articles")
                    .first()
                    .map(|a| a.id);
                let Some(article) = first else { return };
                let actor = by.actor();
                self.both(move |d| {
                    let actor = actor.clone();
                    Box::pin(async move { d.split(&actor, id, article, QUEUES[queue], None).await })
                })
                .ok()
                .map(|c| c.ticket.id)
            }
            Step::Query {
                by,
                limit,
                active_only,
                unlocked,
            } => {
                let query = TicketQuery {
                    limit,
                    state_types: active_only
                        .then(|| BTreeSet::from([crate::StateType::New, crate::StateType::Open])),
                    locked: unlocked.then_some(false),
                    ..TicketQuery::default()
                };
                self.page_all(by, query);
                None
            }
            Step::Advance { minutes } => {
                self.clock.advance(Duration::minutes(minutes));
                None
            }
            Step::Tick { minutes } => {
                self.clock.advance(Duration::minutes(minutes));
                let now = crate::clock::Clock::now(&self.clock);
                self.both(move |d| Box::pin(async move { d.tick(now).await }))
                    .expect("tick");
                let next = self.both(|d| Box::pin(async move { d.next_due().await }));
                assert!(next.expect("next_due").is_none_or(|at| at > now));
                None
            }
        };
        if let Some(id) = new_ticket
            && !self.tickets.contains(&id)
        {
            self.tickets.push(id);
        }
    }
}

impl<B: Backend> StateMachineTest for Conformance<B> {
    type SystemUnderTest = Pair;
    type Reference = Reference;

    fn init_test(_: &usize) -> Pair {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let clock = ManualClock::new(super::epoch());
        let (model, backend, model_store, backend_store) = rt.block_on(async {
            let model_store = Memory::store().await;
            let backend_store = B::store().await;
            (
                make_desk(model_store.clone(), &clock).await,
                make_desk(backend_store.clone(), &clock).await,
                model_store,
                backend_store,
            )
        });
        Pair {
            rt,
            model,
            backend,
            backend_store,
            model_store,
            clock,
            tickets: Vec::new(),
            seen: std::cell::Cell::new(0),
        }
    }

    fn apply(mut pair: Pair, _: &usize, step: Step) -> Pair {
        pair.run(step);
        pair
    }

    fn check_invariants(pair: &Pair, _: &usize) {
        // The event log is gap-free and each event is seen exactly once through a cursor.
        let store = pair.backend_store.clone();
        let fresh = pair
            .rt
            .block_on(store.events_since(pair.seen.get(), 10_000))
            .expect("events");
        for (i, e) in fresh.iter().enumerate() {
            assert_eq!(e.seq, pair.seen.get() + 1 + i as u64, "event log has a gap");
        }
        pair.seen.set(pair.seen.get() + fresh.len() as u64);
    }

    fn teardown(pair: Pair, _: usize) {
        let Pair {
            rt,
            model,
            backend,
            model_store,
            backend_store,
            tickets,
            ..
        } = pair;
        drop((model, backend));
        rt.block_on(async move {
            let log = backend_store
                .events_since(0, usize::MAX)
                .await
                .expect("log");
            assert_eq!(
                log,
                model_store.events_since(0, usize::MAX).await.expect("log")
            );
            let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, (1..=log.len() as u64).collect::<Vec<_>>());
            let mut numbers = BTreeSet::new();
            for id in tickets {
                let t = backend_store
                    .ticket(id)
                    .await
                    .expect("read")
                    .expect("exists");
                assert_eq!(
                    Some(&t),
                    model_store.ticket(id).await.expect("read").as_ref()
                );
                assert!(numbers.insert(t.number.clone()), "duplicate number");
                let found = backend_store
                    .ticket_by_number(&t.number)
                    .await
                    .expect("read");
                assert_eq!(found.as_ref(), Some(&t));
                assert_eq!(
                    backend_store.articles(id).await.expect("articles"),
                    model_store.articles(id).await.expect("articles")
                );
                let history = backend_store.history(id).await.expect("history");
                let from_log: Vec<_> = log.iter().filter(|e| e.ticket == id).cloned().collect();
                assert_eq!(history, from_log, "history is the ticket's part of the log");
                assert!(history.len() as u64 >= t.version);
            }
            B::release(backend_store).await;
        });
    }
}

/// Runs the state-machine test for backend `B`.
pub fn run<B: Backend>() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: super::strategies::cases(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = Reference::sequential_strategy(1..40);
    let result = runner.run(&strategy, |(initial, steps, seen)| {
        Conformance::<B>::test_sequential(runner_config(), initial, steps, seen);
        Ok(())
    });
    if let Err(e) = result {
        panic!("state machine diverged from MemoryStore: {e}");
    }
}

fn runner_config() -> ProptestConfig {
    ProptestConfig::default()
}
