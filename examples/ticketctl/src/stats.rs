//! `ticketctl stats`: the desk's statistics for a period, from the library's tallies
//! (`Desk::stats`), as the system or as an agent sees them.

use chrono::NaiveDate;
use clap::Args;
use serde_json::{Value, json};
use ticketcore::Actor;
use ticketcore::stats::{Period, Times};

use crate::table;
use crate::view::agent;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only what this agent may see.
    #[arg(long = "as", value_name = "AGENT")]
    agent: Option<String>,
    /// The period: this many days up to today (or up to --to).
    #[arg(long, default_value_t = 30)]
    days: u64,
    /// The period's last day (YYYY-MM-DD); today when absent.
    #[arg(long, value_parser = day)]
    to: Option<NaiveDate>,
    /// JSON instead of tables.
    #[arg(long)]
    json: bool,
}

fn day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("{text:?} is not YYYY-MM-DD"))
}

fn duration(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn times(t: &Times) -> String {
    format!(
        "{} (median {}, 90% {})",
        t.count,
        duration(t.median),
        duration(t.p90)
    )
}

pub async fn run(access: &Access, args: StatsArgs) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = match &args.agent {
        Some(login) => agent(&desk, login).await?,
        None => Actor::System,
    };
    let last = args.to.unwrap_or_else(|| desk.now().date_naive());
    let stats = desk
        .stats(&actor, Period::last_days(last, args.days.max(1)))
        .await?;
    if args.json {
        let by_queue: serde_json::Map<String, Value> = stats
            .queues
            .iter()
            .map(|(queue, q)| {
                let types: serde_json::Map<String, Value> = q
                    .now
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(t, n)| (t.as_str().to_string(), json!(n)))
                    .collect();
                (queue.clone(), Value::Object(types))
            })
            .collect();
        let per_day: Vec<Value> = stats
            .per_day
            .iter()
            .map(|(day, d)| json!({"day": day, "created": d.created, "closed": d.closed}))
            .collect();
        let doc = json!({
            "period": stats.period,
            "tickets": stats.tickets,
            "by_queue": by_queue,
            "by_state_type": stats.by_state_type,
            "per_day": per_day,
            "created": stats.created,
            "closed": stats.closed,
            "escalated": stats.escalations,
            "first_response": stats.first_response,
            "solution": stats.solution,
            "median_first_response_seconds": stats.first_response.median,
            "median_solution_seconds": stats.solution.median,
            "queues": stats.queues,
            "agents": stats.agents,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = stats
        .queues
        .iter()
        .map(|(queue, q)| {
            vec![
                queue.clone(),
                q.now.values().sum::<u64>().to_string(),
                q.created.to_string(),
                q.closed.to_string(),
                q.escalations.to_string(),
                times(&q.first_response),
                times(&q.solution),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "QUEUE",
                "NOW",
                "CREATED",
                "CLOSED",
                "ESCALATED",
                "FIRST RESPONSES",
                "SOLUTIONS"
            ],
            &rows
        )
    );
    let rows: Vec<Vec<String>> = stats
        .agents
        .iter()
        .map(|(agent, a)| {
            vec![
                agent.clone(),
                a.closed.to_string(),
                times(&a.first_response),
                times(&a.solution),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!();
        print!(
            "{}",
            table::render(&["OWNER", "CLOSED", "FIRST RESPONSES", "SOLUTIONS"], &rows)
        );
    }
    let rows: Vec<Vec<String>> = stats
        .per_day
        .iter()
        .map(|(day, d)| vec![day.to_string(), d.created.to_string(), d.closed.to_string()])
        .collect();
    println!();
    print!("{}", table::render(&["DAY", "CREATED", "CLOSED"], &rows));
    println!(
        "\n{} tickets, {} escalated; {} to {}: median first response {}, median solution {}",
        stats.tickets,
        stats.escalations,
        stats.period.from,
        stats.period.to,
        duration(stats.first_response.median),
        duration(stats.solution.median)
    );
    Ok(0)
}
