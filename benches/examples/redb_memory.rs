//! Peak memory of a process working on a large redb desk.
//!
//! ```sh
//! cargo run --release -p ticketcore-benches --example redb_memory -- populate /tmp/1m.redb 1000000
//! cargo run --release -p ticketcore-benches --example redb_memory -- probe /tmp/1m.redb
//! ```
//!
//! `probe` opens the database, pages through the queue view, looks tickets up by number and by
//! Message-ID, creates tickets and runs `tick`, then prints the process's peak resident memory
//! (VmHWM).
#![allow(clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use ticketcore::{Actor, Store, TicketQuery};
use ticketcore_benches::{
    desk, peak_rss_mib, populate, populated_message_id, request, working_view,
};
use ticketcore_redb::RedbStore;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: redb_memory populate PATH COUNT | probe PATH");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(path).expect("open"));
        let desk = desk(store).await;
        match mode.as_str() {
            "populate" => {
                let count: usize = args
                    .get(3)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1_000_000);
                let start = Instant::now();
                populate(&desk, count).await;
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "populated {count} tickets in {secs:.1} s ({:.0} tickets/s), peak {}",
                    count as f64 / secs,
                    peak_rss_mib()
                );
            }
            _ => {
                let start = Instant::now();
                let anna = Actor::agent("anna");
                let mut after = None;
                for _ in 0..200 {
                    let mut query = working_view(25);
                    query.after = after;
                    let page = desk.queue_view(&anna, query).await.expect("view");
                    after = page.next;
                }
                let all = desk
                    .queue_view(
                        &Actor::System,
                        TicketQuery {
                            limit: 2000,
                            ..TicketQuery::default()
                        },
                    )
                    .await
                    .expect("view");
                for t in &all.tickets {
                    desk.store_unchecked()
                        .ticket_by_number(&t.number)
                        .await
                        .expect("lookup");
                }
                for i in (0..1_000_000).step_by(997) {
                    desk.store_unchecked()
                        .article_by_message_id(&populated_message_id(i))
                        .await
                        .expect("lookup");
                }
                for i in 0..500 {
                    desk.create_ticket(&Actor::System, request(i))
                        .await
                        .expect("create");
                }
                desk.tick(desk.now()).await.expect("tick");
                println!(
                    "probe done in {:.1} s, peak resident memory {}",
                    start.elapsed().as_secs_f64(),
                    peak_rss_mib()
                );
            }
        }
    });
}
