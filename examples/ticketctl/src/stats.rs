//! `ticketctl stats`: what a desk's statistics need. Ticket counts come from the queue view,
//! flows over time (created and closed per day, solution times) from the event log.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use ticketcore::{Actor, EventKind, TicketId, TicketQuery};

use crate::table;
use crate::view::tickets;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

/// Events read per store query.
const PAGE: usize = 4096;

#[derive(Debug, Default)]
struct Day {
    created: u64,
    closed: u64,
}

/// The median of `values`, in whole seconds.
fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2
    })
}

fn duration(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub async fn run(access: &Access, json_out: bool) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let all = TicketQuery {
        archived: None,
        ..TicketQuery::default()
    };
    let tickets = tickets(&desk, &Actor::System, all, None).await?;

    let mut by_queue: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut by_state_type: BTreeMap<&str, u64> = BTreeMap::new();
    let mut first_response = Vec::new();
    let mut escalated = 0;
    for t in &tickets {
        *by_queue
            .entry(&t.queue)
            .or_default()
            .entry(t.state_type.as_str())
            .or_default() += 1;
        *by_state_type.entry(t.state_type.as_str()).or_default() += 1;
        if let Some(at) = t.escalation.first_response_at {
            first_response.push((at - t.created).num_seconds());
        }
        if t.escalation.escalated() {
            escalated += 1;
        }
    }

    // Created and closed per day, and each ticket's first close for its solution time.
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    let mut created: HashMap<TicketId, DateTime<Utc>> = HashMap::new();
    let mut solution = Vec::new();
    let mut cursor = 0;
    loop {
        let page = desk.events_since(&Actor::System, cursor, PAGE).await?;
        if page.cursor == cursor {
            break;
        }
        let last = page.cursor;
        for e in &page.events {
            match &e.kind {
                EventKind::NewTicket { .. } => {
                    days.entry(e.at.date_naive()).or_default().created += 1;
                    created.insert(e.ticket, e.at);
                }
                EventKind::StateUpdate { state_type, .. } if state_type.is_closed() => {
                    days.entry(e.at.date_naive()).or_default().closed += 1;
                    if let Some(at) = created.remove(&e.ticket) {
                        solution.push((e.at - at).num_seconds());
                    }
                }
                _ => {}
            }
        }
        cursor = last;
    }
    let first_response = median(first_response);
    let solution = median(solution);

    if json_out {
        let per_day: Vec<Value> = days
            .iter()
            .map(|(day, d)| json!({"day": day, "created": d.created, "closed": d.closed}))
            .collect();
        let doc = json!({
            "tickets": tickets.len(),
            "by_queue": by_queue,
            "by_state_type": by_state_type,
            "per_day": per_day,
            "median_first_response_seconds": first_response,
            "median_solution_seconds": solution,
            "escalated": escalated,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = by_queue
        .iter()
        .flat_map(|(queue, types)| {
            types
                .iter()
                .map(|(t, n)| vec![queue.to_string(), t.to_string(), n.to_string()])
        })
        .collect();
    print!(
        "{}",
        table::render(&["QUEUE", "STATE TYPE", "TICKETS"], &rows)
    );
    let rows: Vec<Vec<String>> = days
        .iter()
        .map(|(day, d)| vec![day.to_string(), d.created.to_string(), d.closed.to_string()])
        .collect();
    println!();
    print!("{}", table::render(&["DAY", "CREATED", "CLOSED"], &rows));
    println!(
        "\n{} tickets, {escalated} escalated; median first response {}, median solution {}",
        tickets.len(),
        duration(first_response),
        duration(solution)
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }
}
