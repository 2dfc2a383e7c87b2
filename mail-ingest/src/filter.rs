//! Mail filters from the configuration (`[[filters]]`): regexes over header fields or the
//! body; a filter whose every pattern matches sets queue, priority, state, title or customer,
//! or drops the message with its name as the reason.

use regex::Regex;
use ticketcore::Config;
use ticketcore::config::FilterSet;

use crate::MailError;
use crate::inbound::Inbound;

#[derive(Debug)]
struct Compiled {
    name: String,
    patterns: Vec<(String, Regex)>,
    set: FilterSet,
    ignore: bool,
}

/// The configuration's filters, compiled.
#[derive(Debug, Default)]
pub struct Filters(Vec<Compiled>);

/// What the filters decided for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtered {
    /// What to set; later filters override earlier ones field by field.
    pub set: FilterSet,
    /// The name of the filter that drops the message.
    pub dropped_by: Option<String>,
    /// Names of every matching filter, in order.
    pub matched: Vec<String>,
}

impl Filters {
    /// Compiles the filters of `config`.
    pub fn compile(config: &Config) -> Result<Filters, MailError> {
        let mut compiled = Vec::with_capacity(config.filters.len());
        for f in &config.filters {
            let mut patterns = Vec::with_capacity(f.matches.len());
            for (field, pattern) in &f.matches {
                let regex = Regex::new(pattern).map_err(|e| MailError::Filter {
                    filter: f.name.clone(),
                    message: format!("{field}: {e}"),
                })?;
                patterns.push((field.to_ascii_lowercase(), regex));
            }
            compiled.push(Compiled {
                name: f.name.clone(),
                patterns,
                set: f.set.clone(),
                ignore: f.ignore,
            });
        }
        Ok(Filters(compiled))
    }

    /// Runs every filter over `mail`.
    pub fn apply(&self, mail: &Inbound) -> Filtered {
        let mut out = Filtered::default();
        for f in &self.0 {
            if !f
                .patterns
                .iter()
                .all(|(field, re)| matches(mail, field, re))
            {
                continue;
            }
            out.matched.push(f.name.clone());
            if f.ignore && out.dropped_by.is_none() {
                out.dropped_by = Some(f.name.clone());
            }
            let s = &f.set;
            out.set.queue = s.queue.clone().or(out.set.queue.take());
            out.set.priority = s.priority.or(out.set.priority);
            out.set.state = s.state.clone().or(out.set.state.take());
            out.set.title = s.title.clone().or(out.set.title.take());
            out.set.customer = s.customer.clone().or(out.set.customer.take());
        }
        out
    }
}

/// Whether `field` of `mail` matches: "body" and the decoded "subject", "from", "to", "cc"
/// by name; any other name against each of that header's values.
fn matches(mail: &Inbound, field: &str, re: &Regex) -> bool {
    match field {
        "body" => re.is_match(&mail.body),
        "subject" => re.is_match(&mail.subject),
        "from" => mail
            .from
            .as_ref()
            .is_some_and(|m| re.is_match(&m.display())),
        "to" => re.is_match(&mail.to),
        "cc" => re.is_match(&mail.cc),
        _ => mail
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(field))
            .any(|(_, value)| re.is_match(value)),
    }
}
