//! Who may see and do what: agents get permissions on groups, directly or through roles; every
//! queue belongs to a group. Customers see only their own (optionally their company's) tickets.
//! Pure functions of the configuration.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::event::{Actor, Event, EventKind};
use crate::ticket::Ticket;

/// A permission an agent holds on a group (the OTRS permission kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the group's tickets.
    Ro,
    /// Move tickets into the group's queues. Without `ro` this is a transfer queue: the agent
    /// can hand a ticket in and then no longer sees it.
    MoveInto,
    /// Create tickets in the group's queues.
    Create,
    /// Add notes.
    Note,
    /// Become owner (lock) and set the owner.
    Owner,
    /// Change the priority.
    Priority,
    /// Everything.
    Rw,
}

/// Permissions per group name.
pub type GroupPermissions = BTreeMap<String, BTreeSet<Permission>>;

/// A group of queues that permissions are granted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A bundle of group permissions, given to agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Name.
    pub name: String,
    /// Permissions per group.
    #[serde(default)]
    pub groups: GroupPermissions,
}

/// An agent: someone who works on tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Login.
    pub login: String,
    /// Full name.
    #[serde(default)]
    pub name: String,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// Direct permissions per group.
    #[serde(default)]
    pub groups: GroupPermissions,
    /// Roles held.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Admins may release anyone's lock.
    #[serde(default)]
    pub admin: bool,
    /// Invalid agents can no longer act.
    #[serde(default = "yes")]
    pub valid: bool,
    /// What the agent wants to be told of.
    #[serde(default, skip_serializing_if = "crate::notify::Preferences::is_empty")]
    pub notifications: crate::notify::Preferences,
}

fn yes() -> bool {
    true
}

/// A customer user: someone tickets are for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerUser {
    /// Login.
    pub login: String,
    /// Full name.
    #[serde(default)]
    pub name: String,
    /// Email address (unique among customers).
    pub email: String,
    /// Company (OTRS CustomerID), for company-wide visibility.
    #[serde(default)]
    pub company: Option<String>,
    /// Invalid customers can no longer sign in or act; their tickets stay.
    #[serde(default = "yes")]
    pub valid: bool,
}

/// An agent's effective permissions: direct grants plus those of their roles.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants(GroupPermissions);

impl Grants {
    /// The effective grants of `login` under `config`; empty for unknown or invalid agents.
    pub fn of(config: &Config, login: &str) -> Grants {
        let Some(agent) = config.agent(login).filter(|a| a.valid) else {
            return Grants::default();
        };
        let mut all = agent.groups.clone();
        for role in agent.roles.iter().filter_map(|r| config.role(r)) {
            for (group, perms) in &role.groups {
                all.entry(group.clone()).or_default().extend(perms);
            }
        }
        Grants(all)
    }

    /// Whether `perm` is granted on `group` (`rw` grants everything).
    pub fn allows(&self, group: &str, perm: Permission) -> bool {
        self.0
            .get(group)
            .is_some_and(|p| p.contains(&perm) || p.contains(&Permission::Rw))
    }
}

/// Whether `actor` holds `perm` on `queue`. The system may do everything; customers hold no
/// agent permissions.
pub fn may(config: &Config, actor: &Actor, queue: &str, perm: Permission) -> bool {
    match actor {
        Actor::System => true,
        Actor::Customer(_) => false,
        Actor::Agent(login) => config
            .queue(queue)
            .is_some_and(|q| Grants::of(config, login).allows(&q.group, perm)),
    }
}

/// The queues `login` may see (`ro`): what a query for this agent is restricted to.
pub fn readable_queues(config: &Config, login: &str) -> BTreeSet<String> {
    let grants = Grants::of(config, login);
    config
        .queues
        .iter()
        .filter(|q| grants.allows(&q.group, Permission::Ro))
        .map(|q| q.name.clone())
        .collect()
}

/// The customer a viewer is, with their company, for visibility decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerScope {
    /// The customer's login.
    pub login: String,
    /// Their company, when company tickets are visible to them.
    pub company: Option<String>,
}

impl CustomerScope {
    /// The scope of `customer` under `config`'s company-visibility rule.
    pub fn of(config: &Config, customer: &CustomerUser) -> CustomerScope {
        CustomerScope {
            login: customer.login.clone(),
            company: customer
                .company
                .clone()
                .filter(|_| config.rules.customers_see_company_tickets),
        }
    }

    /// Whether this customer may see `ticket`.
    pub fn sees(&self, ticket: &Ticket) -> bool {
        ticket.customer.as_deref() == Some(self.login.as_str())
            || self.company.is_some() && ticket.customer_company == self.company
    }
}

/// Whom an answer is for: an agent or the system sees by permission, a customer by scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// The engine, seeing everything.
    System,
    /// An agent, seeing the queues of their `ro` groups.
    Agent(String),
    /// A customer, seeing their own tickets and customer-visible articles.
    Customer(CustomerScope),
}

impl Viewer {
    /// Whether this viewer may see `ticket`.
    pub fn sees(&self, config: &Config, ticket: &Ticket) -> bool {
        match self {
            Viewer::System => true,
            Viewer::Agent(login) => may(
                config,
                &Actor::Agent(login.clone()),
                &ticket.queue,
                Permission::Ro,
            ),
            Viewer::Customer(scope) => scope.sees(ticket),
        }
    }

    /// Whether this viewer may see `event` of `ticket` (as the ticket is now; needed for a
    /// customer, and for an agent only where the event does not record its queue). An agent
    /// sees it by the queue the event left the ticket in, and a move also in the queue it
    /// came from: handed into a transfer queue, the ticket is out of sight from then on. A
    /// customer sees what concerns them of their own tickets.
    pub fn sees_event(&self, config: &Config, event: &Event, ticket: Option<&Ticket>) -> bool {
        match self {
            Viewer::System => true,
            Viewer::Agent(login) => {
                let grants = Grants::of(config, login);
                let reads = |queue: &str| {
                    config
                        .queue(queue)
                        .is_some_and(|q| grants.allows(&q.group, Permission::Ro))
                };
                let queue = match event.visible_in.as_str() {
                    "" => ticket.map(|t| t.queue.as_str()),
                    queue => Some(queue),
                };
                queue.is_some_and(reads)
                    || matches!(&event.kind, EventKind::Move { from, .. } if reads(from))
            }
            Viewer::Customer(scope) => {
                event.kind.customer_visible() && ticket.is_some_and(|t| scope.sees(t))
            }
        }
    }

    /// Whether the viewer needs the ticket to decide on `event` (see [`Viewer::sees_event`]).
    pub fn needs_ticket(&self, event: &Event) -> bool {
        match self {
            Viewer::System => false,
            Viewer::Agent(_) => event.visible_in.is_empty(),
            Viewer::Customer(_) => event.kind.customer_visible(),
        }
    }

    /// Whether this viewer sees internal articles.
    pub fn sees_internal(&self) -> bool {
        !matches!(self, Viewer::Customer(_))
    }
}
