//! Escalation: the promises a queue makes (first response, update, solution), counted in the
//! queue's working time, stored on the ticket as deadlines so every store can index them.
//!
//! A deadline warns once at the configured share of its time and escalates once at its end.
//! Beyond OTRS, the clocks pause in pending states (configurable) and resume with the time
//! that was left; moving a ticket carries the time already used over to the new queue's
//! targets.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::article::{Article, Sender};
use crate::calendar::WorkingTime;
use crate::config::Config;
use crate::ticket::Ticket;

/// Which promise a deadline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The first agent answer visible to the customer.
    FirstResponse,
    /// The next contact after the last one.
    Update,
    /// Closing the ticket.
    Solution,
}

impl DeadlineKind {
    /// Every kind.
    pub const ALL: [DeadlineKind; 3] = [
        DeadlineKind::FirstResponse,
        DeadlineKind::Update,
        DeadlineKind::Solution,
    ];
}

/// A running (or paused) deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// When it escalates (meaningless while paused).
    #[serde(with = "crate::stamp")]
    pub due: DateTime<Utc>,
    /// When it warns (meaningless while paused).
    #[serde(with = "crate::stamp")]
    pub warn_at: DateTime<Utc>,
    /// The queue's target, in seconds of working time.
    pub total_secs: i64,
    /// The warning was emitted.
    pub warned: bool,
    /// The escalation was emitted.
    pub breached: bool,
    /// Working time left (to the escalation, to the warning) when the clock was paused.
    pub paused: Option<(i64, i64)>,
}

impl Deadline {
    fn start(
        wt: &WorkingTime,
        now: DateTime<Utc>,
        total: Duration,
        warn_percent: u8,
    ) -> Option<Self> {
        let warn = total * i32::from(warn_percent) / 100;
        Some(Deadline {
            due: wt.add(now, total)?,
            warn_at: wt.add(now, warn)?,
            total_secs: total.num_seconds(),
            warned: false,
            breached: false,
            paused: None,
        })
    }

    /// Working time left to (the escalation, the warning).
    fn left(&self, wt: &WorkingTime, now: DateTime<Utc>) -> (Duration, Duration) {
        match self.paused {
            Some((due, warn)) => (Duration::seconds(due), Duration::seconds(warn)),
            None => (wt.between(now, self.due), wt.between(now, self.warn_at)),
        }
    }

    fn pause(&mut self, wt: &WorkingTime, now: DateTime<Utc>) {
        if self.paused.is_none() {
            let (due, warn) = self.left(wt, now);
            self.paused = Some((due.num_seconds(), warn.num_seconds()));
        }
    }

    fn resume(mut self, wt: &WorkingTime, now: DateTime<Utc>) -> Option<Self> {
        if let Some((due, warn)) = self.paused.take() {
            self.due = wt.add(now, Duration::seconds(due))?;
            self.warn_at = wt.add(now, Duration::seconds(warn))?;
        }
        Some(self)
    }

    /// The same deadline under another queue's target and time base: the working time already
    /// used counts against the new target.
    fn rebase(
        self,
        old: &WorkingTime,
        new: &WorkingTime,
        now: DateTime<Utc>,
        total: Duration,
        warn_percent: u8,
    ) -> Option<Self> {
        let (due_left, _) = self.left(old, now);
        let used = Duration::seconds(self.total_secs) - due_left;
        let due_left = (total - used).max(Duration::zero());
        let warn_left = (total * i32::from(warn_percent) / 100 - used).max(Duration::zero());
        let paused = self.paused.is_some();
        Some(Deadline {
            due: if paused {
                self.due
            } else {
                new.add(now, due_left)?
            },
            warn_at: if paused {
                self.warn_at
            } else {
                new.add(now, warn_left)?
            },
            total_secs: total.num_seconds(),
            warned: self.warned && warn_left.is_zero(),
            breached: self.breached && due_left.is_zero(),
            paused: paused.then(|| (due_left.num_seconds(), warn_left.num_seconds())),
        })
    }

    /// The next instant this deadline has something to say.
    fn next_event(&self) -> Option<DateTime<Utc>> {
        if self.paused.is_some() {
            return None;
        }
        match (self.warned, self.breached) {
            (false, _) => Some(self.warn_at.min(self.due)),
            (true, false) => Some(self.due),
            (true, true) => None,
        }
    }
}

/// A ticket's escalation state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Escalation {
    /// First-response deadline, until met.
    pub first_response: Option<Deadline>,
    /// Update deadline, restarted by each contact.
    pub update: Option<Deadline>,
    /// Solution deadline, until closed.
    pub solution: Option<Deadline>,
    /// When the first response was given.
    #[serde(default, with = "crate::stamp::option")]
    pub first_response_at: Option<DateTime<Utc>>,
}

impl Escalation {
    /// The deadline of `kind`.
    pub fn get(&self, kind: DeadlineKind) -> Option<&Deadline> {
        self.slot_ref(kind).as_ref()
    }

    fn slot_ref(&self, kind: DeadlineKind) -> &Option<Deadline> {
        match kind {
            DeadlineKind::FirstResponse => &self.first_response,
            DeadlineKind::Update => &self.update,
            DeadlineKind::Solution => &self.solution,
        }
    }

    fn slot(&mut self, kind: DeadlineKind) -> &mut Option<Deadline> {
        match kind {
            DeadlineKind::FirstResponse => &mut self.first_response,
            DeadlineKind::Update => &mut self.update,
            DeadlineKind::Solution => &mut self.solution,
        }
    }

    /// The earliest escalation time of a running deadline: what a queue view shows.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        DeadlineKind::ALL
            .iter()
            .filter_map(|k| self.get(*k))
            .filter(|d| d.paused.is_none())
            .map(|d| d.due)
            .min()
    }

    /// Whether any deadline has been breached.
    pub fn escalated(&self) -> bool {
        DeadlineKind::ALL
            .iter()
            .filter_map(|k| self.get(*k))
            .any(|d| d.breached)
    }

    /// When `tick` next has an escalation warning or breach to emit.
    pub fn next_event(&self) -> Option<DateTime<Utc>> {
        DeadlineKind::ALL
            .iter()
            .filter_map(|k| self.get(*k)?.next_event())
            .min()
    }

    /// Marks what is due at `now` as emitted and returns it: (kind, due, is_breach) in order,
    /// warning before breach.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<(DeadlineKind, DateTime<Utc>, bool)> {
        let mut due = Vec::new();
        for kind in DeadlineKind::ALL {
            if let Some(d) = self.slot(kind).as_mut().filter(|d| d.paused.is_none()) {
                if !d.warned && d.warn_at.min(d.due) <= now {
                    d.warned = true;
                    due.push((kind, d.due, false));
                }
                if !d.breached && d.due <= now {
                    d.breached = true;
                    due.push((kind, d.due, true));
                }
            }
        }
        due
    }
}

fn target(config: &Config, queue: &str, kind: DeadlineKind) -> Option<Duration> {
    let q = config.queue(queue)?;
    let std = match kind {
        DeadlineKind::FirstResponse => q.first_response,
        DeadlineKind::Update => q.update,
        DeadlineKind::Solution => q.solution,
    }?;
    Duration::from_std(std).ok()
}

/// Brings `after`'s deadlines up to date with what a change did (created, moved, closed,
/// reopened, paused, answered): the escalation half of every rule, pure.
pub fn refresh(
    config: &Config,
    before: Option<&Ticket>,
    after: &mut Ticket,
    articles: &[Article],
    now: DateTime<Utc>,
) {
    let wt = config.working_time(&after.queue);
    let warn = config.escalation.warning_percent;
    let paused = |t: &Ticket| config.escalation.pause_in.contains(&t.state_type);
    let closed = after.state_type.is_closed();
    let start = |kind: DeadlineKind, after: &Ticket| {
        target(config, &after.queue, kind).and_then(|total| Deadline::start(&wt, now, total, warn))
    };
    let mut esc = after.escalation.clone();
    let was_closed = before.is_some_and(|b| b.state_type.is_closed());
    match before {
        None if !closed => {
            for kind in DeadlineKind::ALL {
                *esc.slot(kind) = start(kind, after);
            }
        }
        None => {}
        Some(b) => {
            if b.queue != after.queue {
                let old = config.working_time(&b.queue);
                let answered = esc.first_response_at.is_some();
                for kind in DeadlineKind::ALL {
                    let slot = esc.slot(kind);
                    *slot = match slot.take() {
                        Some(d) => target(config, &after.queue, kind)
                            .and_then(|total| d.rebase(&old, &wt, now, total, warn)),
                        // The new queue promises what the old one did not: its clock runs
                        // from the ticket's creation (the first response only while none
                        // was given; the update from now, the last contact being unknown).
                        None if closed => None,
                        None => match kind {
                            DeadlineKind::FirstResponse if answered => None,
                            DeadlineKind::Update => start(kind, after),
                            _ => target(config, &after.queue, kind)
                                .and_then(|total| Deadline::start(&wt, after.created, total, warn)),
                        },
                    };
                }
            }
            if was_closed && !closed {
                if esc.first_response_at.is_none() {
                    esc.first_response = start(DeadlineKind::FirstResponse, after);
                }
                esc.update = start(DeadlineKind::Update, after);
                esc.solution = start(DeadlineKind::Solution, after);
            }
            if paused(b) && !paused(after) {
                for kind in DeadlineKind::ALL {
                    let slot = esc.slot(kind);
                    *slot = slot.take().and_then(|d| d.resume(&wt, now));
                }
            }
        }
    }
    for article in articles {
        let answer = article.sender == Sender::Agent && article.visible_to_customer;
        if answer && esc.first_response_at.is_none() {
            esc.first_response_at = Some(now);
            esc.first_response = None;
        }
        let contact = answer || article.sender == Sender::Customer;
        if contact && before.is_some() && !closed {
            esc.update = start(DeadlineKind::Update, after);
        }
    }
    if paused(after) {
        for kind in DeadlineKind::ALL {
            if let Some(d) = esc.slot(kind).as_mut() {
                d.pause(&wt, now);
            }
        }
    }
    if closed {
        esc.first_response = None;
        esc.update = None;
        esc.solution = None;
    }
    after.escalation = esc;
}
