//! Proptest strategies for ticketcore's inputs: configurations, messages, number formats,
//! subjects and operation sequences. Public so embedders can property-test their code against
//! the engine.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::select;

use crate::acl::{Agent, CustomerUser, Group, Permission, Role};
use crate::article::{Message, NewAttachment};
use crate::config::{Calendar, Config, FollowUpPolicy, Queue};
use crate::number::{Generator, NumberConfig, TicketNumber};
use crate::ticket::Priority;

/// How many cases a property runs: `PROPTEST_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A priority 1..=5.
pub fn priority() -> impl Strategy<Value = Priority> {
    (1u8..=5).prop_map(|p| Priority::new(p).unwrap_or_default())
}

/// Any permission kind.
pub fn permission() -> impl Strategy<Value = Permission> {
    select(vec![
        Permission::Ro,
        Permission::MoveInto,
        Permission::Create,
        Permission::Note,
        Permission::Owner,
        Permission::Priority,
        Permission::Rw,
    ])
}

/// A plain-text message, sometimes with a small attachment.
pub fn message() -> impl Strategy<Value = Message> {
    (
        "[a-zA-Z0-9äöüß .,!?\n]{0,120}",
        proptest::option::weighted(0.2, proptest::collection::vec(any::<u8>(), 0..64)),
    )
        .prop_map(|(body, attachment)| Message {
            attachments: attachment
                .map(|data| NewAttachment {
                    name: "file.bin".into(),
                    content_type: "application/octet-stream".into(),
                    inline: false,
                    data,
                })
                .into_iter()
                .collect(),
            ..Message::text(body)
        })
}

/// A ticket-number configuration of any generator, SystemID, hook and divider.
pub fn number_config() -> impl Strategy<Value = NumberConfig> {
    (
        select(vec![
            Generator::AutoIncrement,
            Generator::Date,
            Generator::DateChecksum,
            Generator::Random,
        ]),
        "[0-9]{1,3}",
        select(vec!["Ticket#", "Anfrage#", "RT-", "#"]),
        select(vec!["", ": ", "-"]),
    )
        .prop_map(|(generator, system_id, hook, divider)| NumberConfig {
            generator,
            system_id,
            hook: hook.into(),
            divider: divider.into(),
            block: 1,
        })
}

/// A mail subject carrying `number` the way mail clients mangle subjects: reply and forward
/// prefixes in several languages, brackets or not, a colon after the hook, text around it.
pub fn subject_with(
    config: &NumberConfig,
    number: &TicketNumber,
) -> impl Strategy<Value = String> + use<> {
    let number = number.clone();
    let tag = config.subject_tag(&number);
    (
        proptest::collection::vec(
            select(vec![
                "Re: ", "RE: ", "AW: ", "Aw: ", "Fwd: ", "WG: ", "SV: ", "Fw: ",
            ]),
            0..4,
        ),
        any::<bool>(),
        select(vec!["", ":", ": ", ":  "]),
        "[a-zA-Z äöü!?-]{0,30}",
        "[a-zA-Z äöü]{0,10}",
    )
        .prop_map(move |(prefixes, bracket, colon, text, lead)| {
            let digits = number.to_string();
            let hook = tag.strip_suffix(digits.as_str()).unwrap_or(&tag);
            let tagged = format!("{hook}{colon}{digits}");
            let tagged = if bracket {
                format!("[{tagged}]")
            } else {
                tagged
            };
            format!("{}{lead} {tagged} {text}", prefixes.concat())
        })
}

/// A random but valid configuration: a few groups, a queue tree over them, roles and agents
/// with random grants (including transfer-style `move_into` without `ro`), and customers in
/// up to two companies.
pub fn config() -> impl Strategy<Value = Config> {
    let groups = 1usize..4;
    groups
        .prop_flat_map(|n_groups| {
            let grants = move || {
                proptest::collection::btree_map(
                    (0..n_groups).prop_map(|g| format!("g{g}")),
                    proptest::collection::btree_set(permission(), 1..3),
                    0..=n_groups,
                )
            };
            (
                Just(n_groups),
                // queues: (group, parent index or none, follow-up policy)
                proptest::collection::vec(
                    (
                        0..n_groups,
                        proptest::option::of(0usize..6),
                        select(vec![
                            FollowUpPolicy::Reopen,
                            FollowUpPolicy::Reject,
                            FollowUpPolicy::NewTicket,
                        ]),
                    ),
                    1..6,
                ),
                proptest::collection::vec(grants(), 0..3),
                proptest::collection::vec(
                    (
                        grants(),
                        proptest::collection::btree_set(0usize..3, 0..3),
                        any::<bool>(),
                    ),
                    1..5,
                ),
                proptest::collection::vec(select(vec![Some("A"), Some("B"), None]), 1..5),
                any::<bool>(),
            )
        })
        .prop_map(
            |(n_groups, queue_specs, role_grants, agent_specs, companies, company_wide)| {
                let mut config = Config {
                    groups: (0..n_groups)
                        .map(|g| Group {
                            name: format!("g{g}"),
                            comment: None,
                        })
                        .collect(),
                    ..Config::default()
                };
                for (i, (group, parent, follow_up)) in queue_specs.into_iter().enumerate() {
                    // Parents must come first: only earlier queues can be parents.
                    let name = match parent.filter(|p| *p < i) {
                        Some(p) => format!("{}::q{i}", config.queues[p].name),
                        None => format!("q{i}"),
                    };
                    let mut queue = Queue::new(name, format!("g{group}"));
                    queue.follow_up = follow_up;
                    config.queues.push(queue);
                }
                config.roles = role_grants
                    .into_iter()
                    .enumerate()
                    .map(|(i, groups)| Role {
                        name: format!("r{i}"),
                        groups,
                    })
                    .collect();
                let n_roles = config.roles.len();
                config.agents = agent_specs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (groups, roles, admin))| Agent {
                        login: format!("agent{i}"),
                        name: format!("Agent {i}"),
                        email: format!("agent{i}@desk.example"),
                        groups,
                        roles: roles
                            .into_iter()
                            .filter(|r| *r < n_roles)
                            .map(|r| format!("r{r}"))
                            .collect(),
                        admin,
                        valid: true,
                        notifications: Default::default(),
                    })
                    .collect();
                config.customers = companies
                    .into_iter()
                    .enumerate()
                    .map(|(i, company)| CustomerUser {
                        login: format!("cust{i}"),
                        name: format!("Customer {i}"),
                        email: format!("cust{i}@customer.example"),
                        company: company.map(String::from),
                        valid: true,
                    })
                    .collect();
                config.rules.customers_see_company_tickets = company_wide;
                config
            },
        )
}

/// The effective group permissions of every agent in `config`, computed independently of
/// [`crate::acl`] (the oracle the permission property checks against).
pub fn expected_grants(
    config: &Config,
) -> BTreeMap<String, BTreeMap<String, BTreeSet<Permission>>> {
    config
        .agents
        .iter()
        .map(|agent| {
            let mut grants = agent.groups.clone();
            for role in &config.roles {
                if agent.roles.contains(&role.name) {
                    for (group, perms) in &role.groups {
                        grants.entry(group.clone()).or_default().extend(perms);
                    }
                }
            }
            (agent.login.clone(), grants)
        })
        .collect()
}

/// A business calendar in a time zone with or without daylight saving (northern and southern
/// hemisphere), one to three working intervals on some weekdays (always on Monday), and a few
/// holidays. Interval bounds fall on quarter hours, so some straddle DST switches.
pub fn calendar() -> impl Strategy<Value = Calendar> {
    let day = || {
        proptest::collection::btree_set(0u32..=96, 0..=6).prop_map(|points| {
            let points: Vec<u32> = points.into_iter().map(|p| p * 15).collect();
            points
                .chunks_exact(2)
                .map(|w| {
                    format!(
                        "{:02}:{:02}-{:02}:{:02}",
                        w[0] / 60,
                        w[0] % 60,
                        w[1] / 60,
                        w[1] % 60
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    (
        select(vec![
            "Europe/Berlin",
            "America/New_York",
            "Australia/Sydney",
            "Asia/Kolkata",
            "UTC",
        ]),
        proptest::collection::vec(day(), 7),
        proptest::collection::vec(
            (1u32..=12, 1u32..=28, proptest::option::of(2025i32..=2027)),
            0..6,
        ),
    )
        .prop_map(|(tz, mut days, holidays)| {
            if days[0].is_empty() {
                days[0] = "09:00-17:00".into();
            }
            Calendar {
                name: "generated".into(),
                time_zone: tz.into(),
                hours: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                    .into_iter()
                    .zip(days)
                    .filter(|(_, h)| !h.is_empty())
                    .map(|(d, h)| (d.to_string(), h))
                    .collect(),
                holidays: holidays
                    .into_iter()
                    .map(|(m, d, y)| match y {
                        Some(y) => format!("{y:04}-{m:02}-{d:02}"),
                        None => format!("{m:02}-{d:02}"),
                    })
                    .collect(),
            }
        })
}
