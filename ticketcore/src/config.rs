//! The desk configuration: queues, groups, roles, agents, states, templates, filters, number
//! format. One versioned serde document, stored by the Store, loaded from TOML.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::acl::{Agent, CustomerUser, Group, Role};
use crate::calendar::{BusinessCalendar, WorkingTime};
use crate::number::NumberConfig;
use crate::state::{State, StateType, default_states};

/// What happens to a customer's follow-up on a closed ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpPolicy {
    /// Reopen the ticket.
    #[default]
    Reopen,
    /// Keep it closed, record the message and answer with the reject auto-response.
    Reject,
    /// Open a new ticket linked to the closed one.
    NewTicket,
}

/// Auto-response templates of a queue, by occasion.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoResponses {
    /// Confirms a new ticket.
    pub new_ticket: Option<String>,
    /// Confirms a follow-up.
    pub follow_up: Option<String>,
    /// Answers a rejected follow-up.
    pub reject: Option<String>,
}

/// A queue. Queues form a tree by name: "Parent::Child".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Full name, "Parent::Child" for sub-queues.
    pub name: String,
    /// The group whose permissions govern it.
    pub group: String,
    /// The system address mail for this queue arrives at and leaves from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A lock expires after this long without the holder acting.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub unlock_timeout: Option<Duration>,
    /// First-response escalation time.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub first_response: Option<Duration>,
    /// Update escalation time.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub update: Option<Duration>,
    /// Solution escalation time.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub solution: Option<Duration>,
    /// The business calendar escalation and lock times count in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// What a follow-up to a closed ticket does.
    #[serde(default)]
    pub follow_up: FollowUpPolicy,
    /// Auto-response templates.
    #[serde(default)]
    pub auto_response: AutoResponses,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Queue {
    /// A queue in `group` with default settings.
    pub fn new(name: impl Into<String>, group: impl Into<String>) -> Queue {
        Queue {
            name: name.into(),
            group: group.into(),
            address: None,
            unlock_timeout: None,
            first_response: None,
            update: None,
            solution: None,
            calendar: None,
            follow_up: FollowUpPolicy::default(),
            auto_response: AutoResponses::default(),
            comment: None,
        }
    }

    /// The parent queue's name, if this is a sub-queue.
    pub fn parent(&self) -> Option<&str> {
        self.name.rsplit_once("::").map(|(parent, _)| parent)
    }
}

/// An FAQ category (`[[faq_categories]]`). Categories form a tree by name, "Parent::Child",
/// and, like queues, each is in a group: `ro` reads its internal entries, `rw` writes its
/// entries and reads its drafts. Public entries are for everyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqCategory {
    /// Full name, "Parent::Child" for sub-categories.
    pub name: String,
    /// The group whose permissions govern it.
    pub group: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl FaqCategory {
    /// A category in `group`.
    pub fn new(name: impl Into<String>, group: impl Into<String>) -> FaqCategory {
        FaqCategory {
            name: name.into(),
            group: group.into(),
            comment: None,
        }
    }
}

/// A business calendar (working hours, holidays, time zone); takes effect with escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// Name.
    pub name: String,
    /// IANA time zone, e.g. "Europe/Berlin".
    pub time_zone: String,
    /// Working hours per weekday ("mon".."sun"): "09:00-12:00,13:00-17:00".
    #[serde(default)]
    pub hours: BTreeMap<String, String>,
    /// Holidays as YYYY-MM-DD (one-off) or MM-DD (every year).
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// A mail or answer template. Variables: `{{ticket.number}}`, `{{ticket.hook}}`,
/// `{{ticket.title}}`, `{{customer.name}}`, `{{queue.name}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Name.
    pub name: String,
    /// Subject template.
    #[serde(default)]
    pub subject: String,
    /// Body template.
    #[serde(default)]
    pub body: String,
}

/// A one-click action on a ticket: an answer from a template and changes of state, queue or
/// priority, applied in one commit (the account-application desk's "send the verification
/// mail"). What it leaves out stays as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Macro {
    /// Name, unique; what scripts and forms name.
    pub name: String,
    /// The button's text; the name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The answer template sent to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The state afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// For a pending state: the reminder this many hours later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_hours: Option<u32>,
    /// The queue afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The priority afterwards (1..=5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

impl Macro {
    /// What its button says.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

/// A receiver of the desk's events: each event, as JSON signed the way the Standard Webhooks
/// specification says, posted to `url` (or, with a `template`, a line of text for a chat's
/// incoming webhook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Name, unique; the receiver's cursor and state are kept under it.
    pub name: String,
    /// Where events are posted (`https://…`, or `http://` on a trusted network).
    pub url: String,
    /// The signing secret, `whsec_` and base64 (as Standard Webhooks writes them).
    pub secret: String,
    /// Only these event types (history types, e.g. `NewTicket`, `FollowUp`); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Only events in these queues and their sub-queues; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
    /// Post `{"text": …}` with this template instead of the event (Mattermost, Slack, Matrix
    /// bridges). Variables: those of answer templates, `{{event}}`, `{{actor}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl Webhook {
    /// The signing key the secret names, if it is well formed.
    pub fn key(&self) -> Option<Vec<u8>> {
        let encoded = self.secret.strip_prefix("whsec_")?;
        let key = base64_decode(encoded)?;
        (key.len() >= 16 && key.len() <= 64).then_some(key)
    }

    /// Whether the event of `history_type` in `queue` is for this receiver.
    pub fn wants(&self, history_type: &str, queue: &str) -> bool {
        let typed = self.events.is_empty() || self.events.iter().any(|e| e == history_type);
        let placed = self.queues.is_empty() || self.queues.iter().any(|q| within(queue, q));
        typed && placed
    }
}

/// Whether `name` is `root` or below it in a tree named by "::" (queues, FAQ categories).
pub fn within(name: &str, root: &str) -> bool {
    name.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Standard base64 (with or without padding), as webhook secrets are written.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(text)
        .ok()
}

/// What a matching filter sets on the incoming message's ticket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterSet {
    /// Queue.
    pub queue: Option<String>,
    /// Priority 1..=5.
    pub priority: Option<u8>,
    /// State name.
    pub state: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Customer login.
    pub customer: Option<String>,
}

/// A mail filter: regexes over headers (by name) or the body ("body"); all must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Name.
    pub name: String,
    /// Header name (or "body") to regex.
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, String>,
    /// What to set.
    #[serde(default)]
    pub set: FilterSet,
    /// Drop the message (recorded with this filter's name as reason).
    #[serde(default)]
    pub ignore: bool,
}

/// Mail settings (`[mail]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// Queue for mail no system address routes.
    pub default_queue: Option<String>,
    /// Outbound transport URL: "maildir:DIR", "smtp://HOST:PORT".
    pub outbound: Option<String>,
    /// Auto-responses per sender address per day.
    pub auto_responses_per_sender_per_day: u32,
    /// Larger mail is rejected: "20MB", "512KiB" or bytes.
    #[serde(with = "byte_size")]
    pub max_message_size: u64,
    /// Also look for a ticket number in the body.
    pub follow_up_by_body: bool,
    /// What a follow-up by ticket number does when its sender is neither the ticket's customer
    /// nor anyone who wrote on it before.
    pub unknown_sender: UnknownSender,
    /// What a delivery-status report about no mail of this desk becomes.
    pub foreign_bounces: ForeignBounces,
}

/// What a bounce that concerns no mail of this desk becomes (`[mail] foreign_bounces`):
/// someone may have sent mail in the desk's name, or an old address still bounces; an
/// agent should see it rather than nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeignBounces {
    /// A ticket in the default queue, marked as a bounce, without an auto-response.
    #[default]
    Ticket,
    /// Dropped, counted and reported with its reason.
    Ignore,
}

/// The policy for follow-ups from strangers (`[mail] unknown_sender`): a guessed or leaked
/// ticket number must not slip content into someone else's ticket unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSender {
    /// Append it and flag it in the FollowUp event (what OTRS does).
    #[default]
    Accept,
    /// Open a new ticket for it instead.
    NewTicket,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            default_queue: None,
            outbound: None,
            auto_responses_per_sender_per_day: 10,
            max_message_size: 20_000_000,
            follow_up_by_body: false,
            unknown_sender: UnknownSender::Accept,
            foreign_bounces: ForeignBounces::Ticket,
        }
    }
}

/// Agent notifications (`[notifications]`): where the desk is on the web, and the mail each
/// kind is sent as.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// The web desk's address: `{{ticket.url}}` is `BASE/tickets/NUMBER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Subject and body by kind (`[notifications.templates.note]`); the built-in text where
    /// absent. Variables: those of answer templates, `{{ticket.url}}`, `{{notification}}`
    /// (what happened, in a few words), `{{actor}}`, `{{agent.name}}`, `{{article.subject}}`,
    /// `{{article.body}}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<crate::notify::Reason, NotificationTemplate>,
}

/// A notification mail's subject and body templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationTemplate {
    /// Subject template.
    pub subject: String,
    /// Body template.
    pub body: String,
}

impl NotificationSettings {
    /// The template for `reason`: configured, or the built-in one, whose subject carries the
    /// ticket's number and title (not a bare "new note").
    pub fn template(&self, reason: crate::notify::Reason) -> NotificationTemplate {
        self.templates
            .get(&reason)
            .cloned()
            .unwrap_or_else(|| NotificationTemplate {
                subject: "[{{ticket.hook}}] {{ticket.title}} ({{notification}})".into(),
                body: "{{notification}}: [{{ticket.hook}}] {{ticket.title}}, queue \
                       {{ticket.queue}}, by {{actor}}.\n\n{{article.body}}\n\n{{ticket.url}}\n"
                    .into(),
            })
    }

    /// The address of ticket `number` on the web desk, when the desk has one.
    pub fn ticket_url(&self, number: &str) -> String {
        self.base_url
            .as_deref()
            .map(|base| format!("{}/tickets/{number}", base.trim_end_matches('/')))
            .unwrap_or_default()
    }
}

/// Escalation settings (`[escalation]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationSettings {
    /// Warn when this share (percent) of a deadline's time has passed.
    pub warning_percent: u8,
    /// State types in which escalation clocks pause (all pending types by default).
    pub pause_in: Vec<StateType>,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        EscalationSettings {
            warning_percent: 80,
            pause_in: vec![
                StateType::PendingReminder,
                StateType::PendingAutoCloseSuccessful,
                StateType::PendingAutoCloseUnsuccessful,
            ],
        }
    }
}

/// Desk-wide behaviour switches (`[rules]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSettings {
    /// The state of new tickets.
    pub new_state: String,
    /// The state a reopened (or noted, answered) ticket gets.
    pub open_state: String,
    /// The state a merged ticket gets.
    pub merged_state: String,
    /// A note sets a ticket in a new state to the open state.
    pub note_opens_new_ticket: bool,
    /// Customers see their company's tickets, not only their own.
    pub customers_see_company_tickets: bool,
    /// A reached pending reminder also sets the ticket back to the open state.
    pub reminder_reopens: bool,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            new_state: "new".into(),
            open_state: "open".into(),
            merged_state: "merged".into(),
            note_opens_new_ticket: true,
            customers_see_company_tickets: false,
            reminder_reopens: false,
        }
    }
}

/// The whole configuration document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Ticket number format.
    pub numbers: NumberConfig,
    /// Business calendars.
    pub calendars: Vec<Calendar>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Queues.
    pub queues: Vec<Queue>,
    /// States; the OTRS defaults when not given.
    pub states: Vec<State>,
    /// Allowed manual state changes by state name; states not listed use the defaults (any
    /// state except new and merged may be chosen; merged tickets stay merged).
    pub transitions: BTreeMap<String, Vec<String>>,
    /// Agents.
    pub agents: Vec<Agent>,
    /// Customer users to put into the store's customer directory when this document is applied.
    /// The stored document keeps none: customers are many and live in the store.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub customers: Vec<CustomerUser>,
    /// Templates.
    pub templates: Vec<Template>,
    /// FAQ categories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faq_categories: Vec<FaqCategory>,
    /// One-click actions on a ticket (`[[macros]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub macros: Vec<Macro>,
    /// Receivers of the desk's events as signed HTTP posts (`[[webhooks]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
    /// Mail filters.
    pub filters: Vec<Filter>,
    /// Mail settings.
    pub mail: MailSettings,
    /// Agent notifications.
    pub notifications: NotificationSettings,
    /// Escalation settings.
    pub escalation: EscalationSettings,
    /// Behaviour switches.
    pub rules: RuleSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            numbers: NumberConfig::default(),
            calendars: Vec::new(),
            groups: Vec::new(),
            roles: Vec::new(),
            queues: Vec::new(),
            states: default_states(),
            transitions: BTreeMap::new(),
            agents: Vec::new(),
            customers: Vec::new(),
            templates: Vec::new(),
            faq_categories: Vec::new(),
            macros: Vec::new(),
            webhooks: Vec::new(),
            filters: Vec::new(),
            mail: MailSettings::default(),
            notifications: NotificationSettings::default(),
            escalation: EscalationSettings::default(),
            rules: RuleSettings::default(),
        }
    }
}

/// One thing wrong with a configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, e.g. `queue "Vorstand::Kasse"`.
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// The line of the TOML document it was read from (1-based), when known.
    pub line: Option<usize>,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML does not parse or does not fit the schema; the one-line message names line
    /// and column.
    #[error("configuration does not parse: {0}")]
    Parse(String),
    /// It parses but contradicts itself.
    #[error("configuration is invalid:\n{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}, ")?;
        }
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl Config {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            ConfigError::Parse(match e.span() {
                Some(span) => {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: {message}")
                }
                None => message,
            })
        })?;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid(mut problems) => {
                for p in &mut problems {
                    p.line = locate(text, &p.location);
                }
                ConfigError::Invalid(problems)
            }
            e => e,
        })?;
        Ok(config)
    }

    /// The queue named `name`.
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.name == name)
    }

    /// The address mail from `queue` is sent from: the queue's own, else its nearest
    /// ancestor's, else the default queue's.
    pub fn system_address(&self, queue: &str) -> Option<&str> {
        let mut name = Some(queue);
        while let Some(q) = name.and_then(|n| self.queue(n)) {
            if let Some(address) = q.address.as_deref() {
                return Some(address);
            }
            name = q.parent();
        }
        let default = self.mail.default_queue.as_deref()?;
        self.queue(default)?.address.as_deref()
    }

    /// The agent with `login`.
    pub fn agent(&self, login: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.login == login)
    }

    /// The role named `name`.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The state named `name`.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }

    /// The FAQ category named `name`.
    pub fn faq_category(&self, name: &str) -> Option<&FaqCategory> {
        self.faq_categories.iter().find(|c| c.name == name)
    }

    /// The template named `name`.
    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.name == name)
    }

    /// The time base of `queue`: its calendar's working time, or the wall clock.
    pub fn working_time(&self, queue: &str) -> WorkingTime {
        self.queue(queue)
            .and_then(|q| q.calendar.as_ref())
            .and_then(|name| self.calendars.iter().find(|c| c.name == *name))
            .and_then(|c| BusinessCalendar::new(c).ok())
            .map_or(WorkingTime::WallClock, |c| {
                WorkingTime::Calendar(Box::new(c))
            })
    }

    /// The first state of `state_type`, e.g. the closed-successful state for auto-close.
    pub fn state_of_type(&self, state_type: StateType) -> Option<&State> {
        self.states.iter().find(|s| s.state_type == state_type)
    }

    /// Whether an agent may set a ticket from state `from` to state `to` by hand.
    pub fn transition_allowed(&self, from: &State, to: &State) -> bool {
        match self.transitions.get(&from.name) {
            Some(allowed) => allowed.contains(&to.name),
            None => {
                from.state_type != StateType::Merged
                    && !matches!(to.state_type, StateType::New | StateType::Merged)
            }
        }
    }

    /// Checks that every reference resolves and names are unique; reports every problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |location: String, message: String| {
            problems.push(Problem {
                location,
                message,
                line: None,
            })
        };

        let groups = unique(self.groups.iter().map(|g| &g.name), "group", &mut problem);
        let roles = unique(self.roles.iter().map(|r| &r.name), "role", &mut problem);
        let queues = unique(self.queues.iter().map(|q| &q.name), "queue", &mut problem);
        let templates = unique(
            self.templates.iter().map(|t| &t.name),
            "template",
            &mut problem,
        );
        let calendars = unique(
            self.calendars.iter().map(|c| &c.name),
            "calendar",
            &mut problem,
        );
        let states = unique(self.states.iter().map(|s| &s.name), "state", &mut problem);
        unique(self.agents.iter().map(|a| &a.login), "agent", &mut problem);
        unique(
            self.customers.iter().map(|c| &c.login),
            "customer",
            &mut problem,
        );
        unique(self.filters.iter().map(|f| &f.name), "filter", &mut problem);
        let mut emails = BTreeMap::new();
        for customer in &self.customers {
            if let Some(other) = emails.insert(customer.email.to_lowercase(), &customer.login) {
                problem(
                    format!("customer {:?}", customer.login),
                    format!("email {:?} is already customer {other:?}'s", customer.email),
                );
            }
        }

        if self.numbers.system_id.is_empty()
            || !self.numbers.system_id.bytes().all(|b| b.is_ascii_digit())
        {
            problem(
                "[numbers]".into(),
                format!(
                    "system_id {:?} must be one or more digits",
                    self.numbers.system_id
                ),
            );
        }
        if self.numbers.hook.is_empty() {
            problem("[numbers]".into(), "hook must not be empty".into());
        }
        if self.numbers.block == 0 {
            problem("[numbers]".into(), "block must be at least 1".into());
        }

        for role in &self.roles {
            for group in role.groups.keys().filter(|g| !groups.contains(g.as_str())) {
                problem(
                    format!("role {:?}", role.name),
                    format!("unknown group {group:?}"),
                );
            }
        }
        for agent in &self.agents {
            let at = format!("agent {:?}", agent.login);
            for group in agent.groups.keys().filter(|g| !groups.contains(g.as_str())) {
                problem(at.clone(), format!("unknown group {group:?}"));
            }
            for role in agent.roles.iter().filter(|r| !roles.contains(r.as_str())) {
                problem(at.clone(), format!("unknown role {role:?}"));
            }
            let mine = agent.notifications.queues.iter().flatten();
            for queue in mine.filter(|q| !queues.contains(q.as_str())) {
                problem(
                    at.clone(),
                    format!("notifications: unknown queue {queue:?} among its queues"),
                );
            }
        }
        for queue in &self.queues {
            let at = format!("queue {:?}", queue.name);
            if queue.name.split("::").any(|part| part.trim().is_empty()) {
                problem(at.clone(), "empty name or empty part between \"::\"".into());
            }
            if !groups.contains(queue.group.as_str()) {
                problem(at.clone(), format!("unknown group {:?}", queue.group));
            }
            if let Some(parent) = queue.parent().filter(|p| !queues.contains(p)) {
                problem(
                    at.clone(),
                    format!("parent queue {parent:?} does not exist"),
                );
            }
            if let Some(cal) = queue
                .calendar
                .as_ref()
                .filter(|c| !calendars.contains(c.as_str()))
            {
                problem(at.clone(), format!("unknown calendar {cal:?}"));
            }
            let responses = &queue.auto_response;
            for name in [
                &responses.new_ticket,
                &responses.follow_up,
                &responses.reject,
            ]
            .into_iter()
            .flatten()
            .filter(|t| !templates.contains(t.as_str()))
            {
                problem(at.clone(), format!("unknown template {name:?}"));
            }
        }
        let categories = unique(
            self.faq_categories.iter().map(|c| &c.name),
            "FAQ category",
            &mut problem,
        );
        for category in &self.faq_categories {
            let at = format!("FAQ category {:?}", category.name);
            if category.name.split("::").any(|part| part.trim().is_empty())
                || category.name.chars().any(char::is_control)
            {
                problem(
                    at.clone(),
                    "empty name, empty part between \"::\" or a control character".into(),
                );
            }
            if !groups.contains(category.group.as_str()) {
                problem(at.clone(), format!("unknown group {:?}", category.group));
            }
            if let Some((parent, _)) = category.name.rsplit_once("::")
                && !categories.contains(parent)
            {
                problem(at, format!("parent category {parent:?} does not exist"));
            }
        }
        unique(
            self.webhooks.iter().map(|w| &w.name),
            "webhook",
            &mut problem,
        );
        for hook in &self.webhooks {
            let at = format!("webhook {:?}", hook.name);
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                problem(at.clone(), format!("url {:?} is not http(s)://…", hook.url));
            }
            if hook.key().is_none() {
                problem(
                    at.clone(),
                    "secret must be whsec_ followed by 16 to 64 bytes in base64".into(),
                );
            }
            for q in hook.queues.iter().filter(|q| !queues.contains(q.as_str())) {
                problem(at.clone(), format!("unknown queue {q:?}"));
            }
            for e in &hook.events {
                if !crate::event::EventKind::HISTORY_TYPES.contains(&e.as_str()) {
                    problem(at.clone(), format!("unknown event type {e:?}"));
                }
            }
        }
        unique(self.macros.iter().map(|m| &m.name), "macro", &mut problem);
        for m in &self.macros {
            let at = format!("macro {:?}", m.name);
            if let Some(t) = m.reply.as_ref().filter(|t| !templates.contains(t.as_str())) {
                problem(at.clone(), format!("unknown template {t:?}"));
            }
            if let Some(q) = m.queue.as_ref().filter(|q| !queues.contains(q.as_str())) {
                problem(at.clone(), format!("unknown queue {q:?}"));
            }
            if let Some(s) = m.state.as_ref().filter(|s| !states.contains(s.as_str())) {
                problem(at.clone(), format!("unknown state {s:?}"));
            }
            if m.priority.is_some_and(|p| !(1..=5).contains(&p)) {
                problem(at.clone(), "priority must be 1..=5".into());
            }
            if m.reply.is_none() && m.state.is_none() && m.queue.is_none() && m.priority.is_none() {
                problem(
                    at,
                    "does nothing: name a reply, state, queue or priority".into(),
                );
            }
        }
        for calendar in &self.calendars {
            let at = format!("calendar {:?}", calendar.name);
            if calendar.time_zone.parse::<chrono_tz::Tz>().is_err() {
                problem(
                    at.clone(),
                    format!("unknown time zone {:?}", calendar.time_zone),
                );
            }
            for (day, hours) in &calendar.hours {
                if !["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&day.as_str()) {
                    problem(
                        at.clone(),
                        format!("unknown weekday {day:?} (use mon..sun)"),
                    );
                }
                if let Err(e) = parse_hours(hours) {
                    problem(at.clone(), format!("{day}: {e}"));
                }
            }
            if calendar
                .hours
                .values()
                .all(|h| parse_hours(h).is_ok_and(|r| r.is_empty()))
            {
                problem(at.clone(), "no working hours on any day".into());
            }
            for day in &calendar.holidays {
                let ok = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok()
                    || chrono::NaiveDate::parse_from_str(&format!("2000-{day}"), "%Y-%m-%d")
                        .is_ok();
                if !ok {
                    problem(
                        at.clone(),
                        format!("holiday {day:?} is not YYYY-MM-DD or MM-DD"),
                    );
                }
            }
        }
        if !(1..=100).contains(&self.escalation.warning_percent) {
            problem(
                "[escalation]".into(),
                format!(
                    "warning_percent {} is not 1..100",
                    self.escalation.warning_percent
                ),
            );
        }
        for (from, targets) in &self.transitions {
            for name in std::iter::once(from).chain(targets) {
                if !states.contains(name.as_str()) {
                    problem("[transitions]".into(), format!("unknown state {name:?}"));
                }
            }
        }
        for (pending, closed) in [
            (
                StateType::PendingAutoCloseSuccessful,
                StateType::ClosedSuccessful,
            ),
            (
                StateType::PendingAutoCloseUnsuccessful,
                StateType::ClosedUnsuccessful,
            ),
        ] {
            if let Some(s) = self.state_of_type(pending)
                && self.state_of_type(closed).is_none()
            {
                problem(
                    format!("state {:?}", s.name),
                    format!("auto-closes, but no state has type {closed}"),
                );
            }
        }
        let rules = &self.rules;
        for (name, wanted) in [
            (&rules.new_state, &[StateType::New][..]),
            (&rules.open_state, &[StateType::Open][..]),
            (&rules.merged_state, &[StateType::Merged][..]),
        ] {
            match self.state(name) {
                None => problem("[rules]".into(), format!("unknown state {name:?}")),
                Some(s) if !wanted.contains(&s.state_type) => problem(
                    "[rules]".into(),
                    format!("state {name:?} is of type {}", s.state_type),
                ),
                Some(_) => {}
            }
        }
        for filter in &self.filters {
            let at = format!("filter {:?}", filter.name);
            if filter.matches.is_empty() {
                problem(at.clone(), "match is empty".into());
            }
            for (field, pattern) in &filter.matches {
                if let Err(e) = regex::Regex::new(pattern) {
                    problem(at.clone(), format!("match {field:?}: bad regex: {e}"));
                }
            }
            let set = &filter.set;
            if let Some(q) = set.queue.as_ref().filter(|q| !queues.contains(q.as_str())) {
                problem(at.clone(), format!("unknown queue {q:?}"));
            }
            if let Some(s) = set.state.as_ref().filter(|s| !states.contains(s.as_str())) {
                problem(at.clone(), format!("unknown state {s:?}"));
            }
            if let Some(p) = set.priority.filter(|p| !(1..=5).contains(p)) {
                problem(at.clone(), format!("priority {p} is not 1..5"));
            }
        }
        if let Some(q) = self
            .mail
            .default_queue
            .as_ref()
            .filter(|q| !queues.contains(q.as_str()))
        {
            problem("[mail]".into(), format!("unknown default_queue {q:?}"));
        }
        let mut addresses = BTreeMap::new();
        for queue in &self.queues {
            if let Some(address) = &queue.address
                && let Some(other) = addresses.insert(address.to_lowercase(), &queue.name)
            {
                problem(
                    format!("queue {:?}", queue.name),
                    format!("address {address:?} is already queue {other:?}'s"),
                );
            }
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// The line a problem's location was written on: the `[section]` header, or for an item
/// (`queue "Allgemein"`) the line naming it. Best effort: `None` when it was not written
/// (a default) or cannot be told apart.
fn locate(text: &str, location: &str) -> Option<usize> {
    let line_of = |wanted: &dyn Fn(&str) -> bool| {
        text.lines()
            .position(|l| wanted(l.split('#').next().unwrap_or("").trim()))
            .map(|i| i + 1)
    };
    if location.starts_with('[') {
        return line_of(&|l| l == location);
    }
    let (_, name) = location.split_once(' ')?;
    line_of(&|l| {
        l.split_once('=').is_some_and(|(key, value)| {
            matches!(key.trim(), "name" | "login") && value.trim() == name
        })
    })
}

/// Collects names, reporting duplicates.
fn unique<'a>(
    names: impl Iterator<Item = &'a String>,
    what: &str,
    problem: &mut impl FnMut(String, String),
) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name.as_str()) {
            problem(format!("{what} {name:?}"), format!("duplicate {what}"));
        }
    }
    seen
}

/// Parses working hours "09:00-12:00,13:00-17:00" into minute ranges of the day.
pub fn parse_hours(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let minutes = |t: &str| -> Result<u32, String> {
        let (h, m) = t
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{t:?} is not HH:MM"))?;
        let (h, m): (u32, u32) = (
            h.parse().map_err(|_| format!("{t:?} is not HH:MM"))?,
            m.parse().map_err(|_| format!("{t:?} is not HH:MM"))?,
        );
        if h > 24 || m > 59 || h * 60 + m > 24 * 60 {
            return Err(format!("{t:?} is not a time of day"));
        }
        Ok(h * 60 + m)
    };
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| format!("{part:?} is not HH:MM-HH:MM"))?;
        let (a, b) = (minutes(a)?, minutes(b)?);
        if a >= b {
            return Err(format!("{part:?} ends before it starts"));
        }
        if ranges.last().is_some_and(|&(_, end)| end > a) {
            return Err(format!(
                "{part:?} overlaps or precedes the interval before it"
            ));
        }
        ranges.push((a, b));
    }
    Ok(ranges)
}

/// Durations written as "12h", "1d", "90m", "1h 30m".
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("duration {text:?}: {e}")))
    }
}

/// Sizes written as "20MB", "512KiB", "1GB" or a plain number of bytes.
mod byte_size {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*n)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Size::deserialize(d)? {
            Size::Bytes(n) => Ok(n),
            Size::Text(text) => parse(&text).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "size {text:?} is not a number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)"
                ))
            }),
        }
    }

    pub(super) fn parse(text: &str) -> Option<u64> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            _ => return None,
        };
        number.parse::<u64>().ok()?.checked_mul(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(byte_size::parse("20MB"), Some(20_000_000));
        assert_eq!(byte_size::parse("512KiB"), Some(512 * 1024));
        assert_eq!(byte_size::parse("7"), Some(7));
        assert_eq!(byte_size::parse("7 parsecs"), None);
        assert_eq!(byte_size::parse("99999999999999999999GB"), None);
    }

    #[test]
    fn hours() {
        assert_eq!(
            parse_hours("09:00-12:00, 13:00-17:30"),
            Ok(vec![(540, 720), (780, 1050)])
        );
        assert!(parse_hours("12:00-09:00").is_err());
        assert!(parse_hours("09:00-12:00,11:00-13:00").is_err());
        assert!(parse_hours("9-12").is_err());
    }
}
