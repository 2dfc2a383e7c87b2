//! Statistics from tallies kept by the commit: every ticket write carries what it changes in
//! a few counters (tickets now per queue and state type; created, closed and escalated per
//! day and queue; first-response and solution times as histograms per day, queue and
//! owner), and the store adds them in the same transaction. `Desk::stats` then reads only
//! the counters of the period asked for, never the tickets or the event log, so its cost
//! follows the number of days and queues, not of tickets.
//!
//! Times are kept in buckets (one minute to thirty days, roughly doubling), so medians and
//! 90th percentiles are estimates, interpolated within their bucket.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::acl::{Viewer, readable_queues};
use crate::desk::Desk;
use crate::error::{Error, Result};
use crate::event::{Actor, Event, EventKind};
use crate::state::StateType;
use crate::ticket::Ticket;

/// Separates the parts of a tally's key: no queue, login or state name contains it, and it
/// sorts above the space (MariaDB pads shorter keys with spaces when it compares them).
const SEP: char = '\u{7f}';
/// Every tally key starts with this.
const PREFIX: &str = "stats\u{7f}";

/// Upper bounds of the time buckets, in seconds; the last bucket is open.
const BUCKETS: [i64; 16] = [
    60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 28_800, 43_200, 86_400, 172_800, 345_600,
    604_800, 2_592_000,
];

/// One counter change a commit makes: `delta` added to counter `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The counter.
    pub key: String,
    /// What is added (negative when a ticket leaves a queue or state).
    pub delta: i64,
}

fn key(parts: &[&str]) -> String {
    let mut key = String::from(PREFIX);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(SEP);
        }
        key.push_str(part);
    }
    key
}

fn day(t: DateTime<Utc>) -> String {
    t.date_naive().format("%Y-%m-%d").to_string()
}

fn bucket(seconds: i64) -> usize {
    BUCKETS
        .iter()
        .position(|&b| seconds < b)
        .unwrap_or(BUCKETS.len())
}

fn closed(t: StateType) -> bool {
    matches!(
        t,
        StateType::ClosedSuccessful | StateType::ClosedUnsuccessful
    )
}

/// What a write that takes a ticket from `before` (`None`: a new ticket) to `after`, with
/// `events`, changes in the tallies. Pure: the rules call it for every write they make.
pub fn tallies(before: Option<&Ticket>, after: &Ticket, events: &[Event]) -> Vec<Tally> {
    let mut out = Vec::new();
    let mut add = |parts: &[&str], delta: i64| {
        out.push(Tally {
            key: key(parts),
            delta,
        })
    };
    let now_of = |t: &Ticket| (t.queue.clone(), t.state_type);
    match before {
        None => add(&["now", &after.queue, after.state_type.as_str()], 1),
        Some(b) if now_of(b) != now_of(after) => {
            add(&["now", &b.queue, b.state_type.as_str()], -1);
            add(&["now", &after.queue, after.state_type.as_str()], 1);
        }
        Some(_) => {}
    }
    let owner = after.owner.as_deref().unwrap_or("-");
    let queue = after.queue.as_str();
    if before.is_none() {
        add(&["created", &day(after.created), queue], 1);
    }
    let was_closed = before.is_some_and(|b| closed(b.state_type));
    if closed(after.state_type) && !was_closed {
        let at = after.changed;
        let d = day(at);
        add(&["closed", &d, queue], 1);
        add(&["closed_by", &d, queue, owner], 1);
        let b = bucket((at - after.created).num_seconds()).to_string();
        add(&["solution", &d, queue, &b], 1);
        add(&["solution_by", &d, queue, owner, &b], 1);
    }
    let responded = before.and_then(|b| b.escalation.first_response_at);
    if let (None, Some(at)) = (responded, after.escalation.first_response_at) {
        let d = day(at);
        let b = bucket((at - after.created).num_seconds()).to_string();
        add(&["first_response", &d, queue, &b], 1);
        add(&["first_response_by", &d, queue, owner, &b], 1);
    }
    for event in events {
        if let EventKind::Escalation { .. } = event.kind {
            add(&["escalations", &day(event.at), queue], 1);
        }
    }
    out
}

/// A span of days (UTC), both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// The first day.
    pub from: NaiveDate,
    /// The last day.
    pub to: NaiveDate,
}

impl Period {
    /// The `days` days up to and including `last`.
    pub fn last_days(last: NaiveDate, days: u64) -> Period {
        Period {
            from: last
                .checked_sub_days(Days::new(days.saturating_sub(1)))
                .unwrap_or(last),
            to: last,
        }
    }
}

/// How long something took: how often, the median and the 90th percentile, in seconds
/// (estimated from buckets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Times {
    /// How many.
    pub count: u64,
    /// Median in seconds.
    pub median: Option<i64>,
    /// 90th percentile in seconds.
    pub p90: Option<i64>,
}

/// A histogram of time buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Histogram([u64; BUCKETS.len() + 1]);

impl Histogram {
    fn add(&mut self, bucket: usize, count: u64) {
        if let Some(slot) = self.0.get_mut(bucket) {
            *slot += count;
        }
    }

    /// The `q`-quantile, interpolated linearly within its bucket.
    fn quantile(&self, q: f64) -> Option<i64> {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (i, &n) in self.0.iter().enumerate() {
            if n > 0 && (seen + n) as f64 >= rank {
                let low = if i == 0 { 0 } else { BUCKETS[i - 1] };
                let high = BUCKETS.get(i).copied().unwrap_or(low * 2);
                let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
                return Some(low + ((high - low) as f64 * within).round() as i64);
            }
            seen += n;
        }
        None
    }

    fn times(&self) -> Times {
        Times {
            count: self.0.iter().sum(),
            median: self.quantile(0.5),
            p90: self.quantile(0.9),
        }
    }
}

/// The figures of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    /// Tickets in it now, per state type.
    pub now: BTreeMap<StateType, u64>,
    /// Created in the period.
    pub created: u64,
    /// Closed in the period.
    pub closed: u64,
    /// Escalations (breached deadlines) in the period.
    pub escalations: u64,
    /// First responses given in the period.
    pub first_response: Times,
    /// Solutions (closes) in the period.
    pub solution: Times,
}

/// The figures of one agent (as the tickets' owner), over the queues the viewer may read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentStats {
    /// Tickets closed in the period while they owned them.
    pub closed: u64,
    /// Their first responses.
    pub first_response: Times,
    /// Their solutions.
    pub solution: Times,
}

/// One day's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayStats {
    /// Tickets created.
    pub created: u64,
    /// Tickets closed.
    pub closed: u64,
}

/// A desk's statistics for a period, as far as the viewer may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The period.
    pub period: Period,
    /// Tickets now, over the visible queues.
    pub tickets: u64,
    /// Tickets now per state type.
    pub by_state_type: BTreeMap<StateType, u64>,
    /// Created in the period.
    pub created: u64,
    /// Closed in the period.
    pub closed: u64,
    /// Escalations in the period.
    pub escalations: u64,
    /// First responses in the period.
    pub first_response: Times,
    /// Solutions in the period.
    pub solution: Times,
    /// Each day of the period.
    pub per_day: BTreeMap<NaiveDate, DayStats>,
    /// Per queue.
    pub queues: BTreeMap<String, QueueStats>,
    /// Per owning agent (`-` for tickets without an owner).
    pub agents: BTreeMap<String, AgentStats>,
}

#[derive(Default)]
struct Gathered {
    queue_first: BTreeMap<String, Histogram>,
    queue_solution: BTreeMap<String, Histogram>,
    agent_first: BTreeMap<String, Histogram>,
    agent_solution: BTreeMap<String, Histogram>,
    first: Histogram,
    solution: Histogram,
}

impl Desk {
    /// The desk's statistics for `period`, over the queues `actor` may read: an agent's
    /// readable queues, everything for the system; customers have none. Read from the
    /// tallies the commits keep, so it costs the same for a thousand tickets as for millions.
    pub async fn stats(&self, actor: &Actor, period: Period) -> Result<Stats> {
        let (config, viewer) = self.door(actor).await?;
        let visible: Option<std::collections::BTreeSet<String>> = match &viewer {
            Viewer::System => None,
            Viewer::Agent(login) => Some(readable_queues(&config, login)),
            Viewer::Customer(_) => {
                return Err(Error::Unauthorized("statistics are for agents".into()));
            }
        };
        let sees = |queue: &str| visible.as_ref().is_none_or(|v| v.contains(queue));
        let mut stats = Stats {
            period,
            tickets: 0,
            by_state_type: BTreeMap::new(),
            created: 0,
            closed: 0,
            escalations: 0,
            first_response: Times::default(),
            solution: Times::default(),
            per_day: BTreeMap::new(),
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
        };
        let mut g = Gathered::default();
        let next_day = |d: NaiveDate| d.checked_add_days(Days::new(1)).unwrap_or(d);
        let (from, to) = (
            period.from.format("%Y-%m-%d").to_string(),
            next_day(period.to).format("%Y-%m-%d").to_string(),
        );
        let now_from = key(&["now", ""]);
        // Above every "now" key: the character after the separator.
        let now_to = key(&["now\u{80}"]);
        let rows = self.store.counters_between(&now_from, &now_to).await?;
        for (name, value) in rows {
            let parts: Vec<&str> = name.split(SEP).collect();
            if let [_, "now", queue, state_type] = parts.as_slice()
                && sees(queue)
                && let Ok(state_type) = state_type.parse::<StateType>()
            {
                let n = u64::try_from(value).unwrap_or(0);
                stats.tickets += n;
                *stats.by_state_type.entry(state_type).or_default() += n;
                *stats
                    .queues
                    .entry(queue.to_string())
                    .or_default()
                    .now
                    .entry(state_type)
                    .or_default() += n;
            }
        }
        for kind in [
            "created",
            "closed",
            "closed_by",
            "escalations",
            "first_response",
            "first_response_by",
            "solution",
            "solution_by",
        ] {
            let rows = self
                .store
                .counters_between(&key(&[kind, &from]), &key(&[kind, &to]))
                .await?;
            for (name, value) in rows {
                let n = u64::try_from(value).unwrap_or(0);
                let parts: Vec<&str> = name.split(SEP).collect();
                let (Some(d), Some(queue)) = (parts.get(2), parts.get(3)) else {
                    continue;
                };
                if !sees(queue) {
                    continue;
                }
                let Ok(d) = NaiveDate::parse_from_str(d, "%Y-%m-%d") else {
                    continue;
                };
                let q = stats.queues.entry(queue.to_string()).or_default();
                let bucket = |i: usize| parts.get(i).and_then(|b| b.parse::<usize>().ok());
                match (kind, parts.get(4)) {
                    ("created", _) => {
                        q.created += n;
                        stats.created += n;
                        stats.per_day.entry(d).or_default().created += n;
                    }
                    ("closed", _) => {
                        q.closed += n;
                        stats.closed += n;
                        stats.per_day.entry(d).or_default().closed += n;
                    }
                    ("escalations", _) => {
                        q.escalations += n;
                        stats.escalations += n;
                    }
                    ("closed_by", Some(agent)) => {
                        stats.agents.entry(agent.to_string()).or_default().closed += n;
                    }
                    ("first_response", _) | ("solution", _) => {
                        if let Some(b) = bucket(4) {
                            let (per_queue, all) = if kind == "solution" {
                                (&mut g.queue_solution, &mut g.solution)
                            } else {
                                (&mut g.queue_first, &mut g.first)
                            };
                            per_queue.entry(queue.to_string()).or_default().add(b, n);
                            all.add(b, n);
                        }
                    }
                    ("first_response_by", Some(agent)) | ("solution_by", Some(agent)) => {
                        if let Some(b) = bucket(5) {
                            let per_agent = if kind == "solution_by" {
                                &mut g.agent_solution
                            } else {
                                &mut g.agent_first
                            };
                            per_agent.entry(agent.to_string()).or_default().add(b, n);
                        }
                    }
                    _ => {}
                }
            }
        }
        stats.first_response = g.first.times();
        stats.solution = g.solution.times();
        for (queue, h) in &g.queue_first {
            stats
                .queues
                .entry(queue.clone())
                .or_default()
                .first_response = h.times();
        }
        for (queue, h) in &g.queue_solution {
            stats.queues.entry(queue.clone()).or_default().solution = h.times();
        }
        for (agent, h) in &g.agent_first {
            stats
                .agents
                .entry(agent.clone())
                .or_default()
                .first_response = h.times();
        }
        for (agent, h) in &g.agent_solution {
            stats.agents.entry(agent.clone()).or_default().solution = h.times();
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        h.add(bucket(30), 10);
        assert_eq!(bucket(30), 0);
        assert_eq!(h.quantile(0.5), Some(30));
        h.add(bucket(5000), 10);
        let median = h.quantile(0.5).unwrap_or_default();
        assert!((0..=60).contains(&median), "{median}");
        let p90 = h.quantile(0.9).unwrap_or_default();
        assert!((3600..=7200).contains(&p90), "{p90}");
        assert_eq!(bucket(10_000_000), BUCKETS.len());
    }
}
