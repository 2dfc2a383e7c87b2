//! Auto-response and answer templates: `{{ticket.number}}`, `{{ticket.hook}}` (hook and
//! number, as in subjects), `{{ticket.title}}`, `{{ticket.queue}}`, `{{queue.name}}`,
//! `{{customer.name}}`, `{{customer.email}}`. Unknown variables stay as written, so a typo
//! shows in the mail instead of silently vanishing.

use ticketcore::{Config, Ticket};

/// The values a template may use.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    pairs: Vec<(&'static str, String)>,
}

impl Variables {
    /// The variables for `ticket` and its customer.
    pub fn of(
        config: &Config,
        ticket: &Ticket,
        customer_name: &str,
        customer_email: &str,
    ) -> Variables {
        Variables {
            pairs: vec![
                ("ticket.number", ticket.number.to_string()),
                ("ticket.hook", config.numbers.subject_tag(&ticket.number)),
                ("ticket.title", ticket.title.clone()),
                ("ticket.queue", ticket.queue.clone()),
                ("queue.name", ticket.queue.clone()),
                ("customer.name", customer_name.to_string()),
                ("customer.email", customer_email.to_string()),
            ],
        }
    }

    /// These variables and `name` (which a later value of the same name overrides).
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Variables {
        self.pairs.retain(|(n, _)| *n != name);
        self.pairs.push((name, value.into()));
        self
    }

    /// `text` with every known `{{ name }}` replaced.
    pub fn render(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 64);
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = after[..end].trim();
            match self.pairs.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => out.push_str(value),
                None => out.push_str(&rest[start..start + 2 + end + 2]),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_and_keeps_unknown() {
        let v = Variables {
            pairs: vec![
                ("ticket.number", "2026".into()),
                ("customer.name", "Karla".into()),
            ],
        };
        assert_eq!(
            v.render("Dear {{customer.name}}, {{ ticket.number }} {{nope}} {{open"),
            "Dear Karla, 2026 {{nope}} {{open"
        );
    }
}
