//! `ticketctl demo`: the demo desk (see `ticketcore_app::demo`), its queue view and its
//! sign-ins.

use ticketcore::{Actor, TicketQuery};
use ticketcore_app::Access;
use ticketcore_app::demo::{self, SIGN_INS};
use ticketcore_app::failure::Failure;

use crate::view::{queue_table, tickets};

pub async fn run(access: &Access) -> Result<u8, Failure> {
    let (desk, made) = demo::make(access.store().await?).await?;
    let all = tickets(&desk, &Actor::System, TicketQuery::default(), None).await?;
    print!("{}", queue_table(&all));
    println!(
        "\n{} tickets ({} new this run, {} escalated now); try `ticketctl show {}`, \
         `ticketctl list --as anna`, `ticketctl events`",
        all.len(),
        made.created,
        made.escalations,
        all.first()
            .map(|t| t.number.to_string())
            .unwrap_or_default(),
    );
    for (login, customer, password) in SIGN_INS {
        let who = if customer { "customer" } else { "agent" };
        println!("sign in as {who} {login:?} with password {password:?}");
    }
    Ok(0)
}
