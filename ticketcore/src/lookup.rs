//! The Desk's lookups by key, for the clients that thread mail, send the outbox or export a
//! desk: each takes the acting identity and answers only what that actor may see, so no
//! client needs the store itself.

use crate::account::StoredAccount;
use crate::acl::{CustomerUser, Viewer};
use crate::article::Article;
use crate::desk::Desk;
use crate::error::{Error, Result};
use crate::event::Actor;
use crate::number::TicketNumber;
use crate::ticket::Ticket;

impl Desk {
    /// A ticket by number, if `actor` may see it.
    pub async fn ticket_by_number(
        &self,
        actor: &Actor,
        number: &TicketNumber,
    ) -> Result<Option<Ticket>> {
        let (config, viewer) = self.door(actor).await?;
        Ok(self
            .store
            .ticket_by_number(number)
            .await?
            .filter(|t| viewer.sees(&config, t)))
    }

    /// The article carrying a Message-ID, with its ticket, if `actor` may see both.
    pub async fn article_by_message_id(
        &self,
        actor: &Actor,
        message_id: &str,
    ) -> Result<Option<(Article, Ticket)>> {
        let (config, viewer) = self.door(actor).await?;
        let Some(article) = self.store.article_by_message_id(message_id).await? else {
            return Ok(None);
        };
        if !(viewer.sees_internal() || article.visible_to_customer) {
            return Ok(None);
        }
        Ok(self
            .store
            .ticket(article.ticket)
            .await?
            .filter(|t| viewer.sees(&config, t))
            .map(|t| (article, t)))
    }

    /// A customer user of the directory: agents and the system see all, a customer only
    /// themselves.
    pub async fn customer(&self, actor: &Actor, login: &str) -> Result<Option<CustomerUser>> {
        let viewer = self.door(actor).await?.1;
        let found = self.store.customer(login).await?;
        Ok(found.filter(|c| sees_customer(&viewer, c)))
    }

    /// A page of the customer directory (see [`Store::customers`](crate::Store::customers)),
    /// as [`customer`](Self::customer) shows it: a customer finds only themselves.
    pub async fn customers(
        &self,
        actor: &Actor,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CustomerUser>> {
        let viewer = self.door(actor).await?.1;
        let mut page = self.store.customers(after, limit).await?;
        page.retain(|c| sees_customer(&viewer, c));
        Ok(page)
    }

    /// A customer user by email address (case-insensitive), as [`customer`](Self::customer).
    pub async fn customer_by_email(
        &self,
        actor: &Actor,
        email: &str,
    ) -> Result<Option<CustomerUser>> {
        let viewer = self.door(actor).await?.1;
        let found = self.store.customer_by_email(email).await?;
        Ok(found.filter(|c| sees_customer(&viewer, c)))
    }

    /// The current value of counter `key` (a rate limit's units used today, say): counters
    /// hold no ticket data, so any actor may read them.
    pub async fn counter(&self, key: &str) -> Result<u64> {
        Ok(self.store.counter(key).await?)
    }

    /// The sign-in account of `login` as stored (hashes only), for moving a desk to another
    /// store: the system's and admins' business.
    pub async fn account(&self, by: &Actor, login: &str) -> Result<Option<StoredAccount>> {
        if !self.is_admin(by).await? {
            return Err(Error::Denied {
                actor: by.to_string(),
                action: "read sign-in accounts".into(),
                queue: String::new(),
            });
        }
        Ok(self.store.account(login).await?)
    }
}

/// Whether `viewer` may see a customer's directory entry.
fn sees_customer(viewer: &Viewer, customer: &CustomerUser) -> bool {
    match viewer {
        Viewer::System | Viewer::Agent(_) => true,
        Viewer::Customer(scope) => scope.login == customer.login,
    }
}
