//! The Desk's side of [`account`](crate::account): signing in by password, API tokens, and
//! setting either. Every write is a compare-and-swap on the account document, retried on a
//! conflict, so failures counted by several processes at once all count.

use chrono::{DateTime, Utc};

use crate::account::{self, Account, ApiToken, DECOY_HASH, Holder, SESSION_IDLE, StoredAccount};
use crate::desk::Desk;
use crate::error::{Error, Result};
use crate::event::Actor;
use crate::store::StoreError;

/// Runs CPU-heavy work (argon2: tens of milliseconds) where it does not stall other tasks:
/// tokio's blocking pool when there is a runtime, else right here.
async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    // Each hash takes 19 MiB: a flood of sign-ins waits its turn rather than taking memory.
    static HASHING: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let turn = HASHING
        .get_or_init(|| tokio::sync::Semaphore::new(4))
        .acquire()
        .await
        .map_err(|e| Error::Invalid(format!("password hashing stopped: {e}")))?;
    let done = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(work)
            .await
            .map_err(|e| Error::Invalid(format!("password hashing failed: {e}"))),
        Err(_) => Ok(work()),
    };
    drop(turn);
    done
}

/// `N` bytes from the operating system's random source, for salts and token secrets: never
/// from the desk's injectable `Entropy` (seeded in tests) and never a fallback: no secret is
/// made without real randomness.
fn secret_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Invalid(format!("no random source for a secret: {e}")))?;
    Ok(bytes)
}

impl Desk {
    /// The account of `login` as stored, or a new one (version 0).
    async fn account_or_new(&self, login: &str, holder: Option<Holder>) -> Result<StoredAccount> {
        Ok(self
            .store
            .account(login)
            .await?
            .unwrap_or_else(|| StoredAccount {
                version: 0,
                account: Account::new(login, holder),
            }))
    }

    /// Reads, changes and stores `login`'s account until the compare-and-swap holds.
    async fn update_account<T>(
        &self,
        login: &str,
        holder: Option<Holder>,
        mut change: impl FnMut(&mut Account) -> Result<T>,
    ) -> Result<T> {
        for _ in 0..self.attempts {
            let StoredAccount {
                version,
                mut account,
            } = self.account_or_new(login, holder).await?;
            let result = change(&mut account)?;
            match self.store.save_account(&account, version).await {
                Ok(_) => return Ok(result),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contention(self.attempts))
    }

    /// Whether `by` is the system or a valid admin agent: who may manage anyone's account.
    pub(crate) async fn is_admin(&self, by: &Actor) -> Result<bool> {
        Ok(match by {
            Actor::System => true,
            Actor::Agent(login) => {
                let (config, _) = self.door(by).await?;
                config.agent(login).is_some_and(|a| a.admin)
            }
            Actor::Customer(_) => false,
        })
    }

    /// Whether `by` may manage the account of `of`: the system, an admin, or its holder.
    async fn may_manage(&self, by: &Actor, of: &Actor) -> Result<(Holder, String)> {
        let Some((holder, login)) = Holder::of(of) else {
            return Err(Error::Invalid("the system has no account".into()));
        };
        // Permission first: who exists is nobody's business but the system's and admins'.
        let allowed = if by == of {
            self.door(by).await?;
            true
        } else {
            self.is_admin(by).await?
        };
        if !allowed {
            return Err(Error::Denied {
                actor: by.to_string(),
                action: format!("manage the account of {of}"),
                queue: String::new(),
            });
        }
        // The account must belong to someone who exists.
        match holder {
            Holder::Agent if self.current_config().await?.agent(login).is_none() => {
                return Err(Error::NotFound(format!("agent {login}")));
            }
            Holder::Customer if self.store.customer(login).await?.is_none() => {
                return Err(Error::NotFound(format!("customer {login}")));
            }
            _ => {}
        }
        Ok((holder, login.to_string()))
    }

    /// Sets the password `of` signs in with (hashed with argon2id; the clear text is kept
    /// nowhere). `by` is the system, an admin agent, or `of` itself. One login signs in as one
    /// holder: a login whose agent has a password cannot get one as a customer too.
    pub async fn set_password(&self, by: &Actor, of: &Actor, password: &str) -> Result<()> {
        let (holder, login) = self.may_manage(by, of).await?;
        account::check_password(password).map_err(Error::Invalid)?;
        let salt = secret_bytes::<16>()?;
        let password = password.to_string();
        let hash = off_thread(move || account::hash_password(&password, salt))
            .await?
            .map_err(Error::Invalid)?;
        self.update_account(&login, Some(holder), |account| {
            claim(account, holder)?;
            account.password = Some(hash.clone());
            account.failures = 0;
            account.refused_until = None;
            Ok(())
        })
        .await
    }

    /// The actor whose login and password these are. An unknown login and a wrong password
    /// are one error and cost the same (the password is checked against a decoy hash);
    /// after [`account::FREE_FAILURES`] failures the login is refused for a growing time,
    /// counted in the store so it holds across processes and restarts.
    pub async fn sign_in(&self, login: &str, password: &str) -> Result<Actor> {
        let now = self.now();
        // The attempt counts as failed before it is checked: guesses sent side by side all
        // count, and those past the limit are refused before any hashing.
        let counted = self
            .update_account(login, None, |account| {
                if let Some(until) = account.refused(now) {
                    return Err(Error::SignInRefused { until });
                }
                account.failed(now);
                Ok(account.clone())
            })
            .await?;
        let holder = counted.holder.filter(|_| counted.password.is_some());
        let hash = match (holder, &counted.password) {
            (Some(_), Some(hash)) => hash.clone(),
            _ => DECOY_HASH.to_string(),
        };
        let presented = password.to_string();
        let matches = off_thread(move || {
            presented.len() <= account::MAX_PASSWORD_BYTES
                && account::verify_password(&presented, &hash)
        })
        .await?;
        let Some(holder) = holder.filter(|_| matches) else {
            return Err(Error::SignIn);
        };
        self.update_account(login, None, |account| {
            account.failures = 0;
            account.refused_until = None;
            Ok(())
        })
        .await?;
        let actor = holder.actor(login);
        // A disabled or removed account is told so: the password was right.
        self.door(&actor).await?;
        Ok(actor)
    }

    /// A new API token for `of`, named `name` (unique per account), valid until `expires`.
    /// The token is returned once; the store keeps only its hash.
    pub async fn create_token(
        &self,
        by: &Actor,
        of: &Actor,
        name: &str,
        expires: Option<DateTime<Utc>>,
    ) -> Result<String> {
        let (holder, login) = self.may_manage(by, of).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "a token needs a name without control characters".into(),
            ));
        }
        let now = self.now();
        if expires.is_some_and(|at| at <= now) {
            return Err(Error::Invalid(
                "the token would expire before it is made".into(),
            ));
        }
        let token = account::token_for(&login, secret_bytes()?);
        let stored = ApiToken {
            name: name.to_string(),
            hash: account::token_hash(&token),
            created: now,
            expires,
            last_used: None,
            session: false,
        };
        self.update_account(&login, Some(holder), |account| {
            claim(account, holder)?;
            if account.tokens.iter().any(|t| t.name == stored.name) {
                return Err(Error::Invalid(format!(
                    "{of} already has a token named {:?}",
                    stored.name
                )));
            }
            account.tokens.push(stored.clone());
            Ok(())
        })
        .await?;
        Ok(token)
    }

    /// The API tokens of `of` (hashes, names, dates: never the tokens); sessions are not
    /// among them.
    pub async fn tokens(&self, by: &Actor, of: &Actor) -> Result<Vec<ApiToken>> {
        let (holder, login) = self.may_manage(by, of).await?;
        let mut tokens = self
            .store
            .account(&login)
            .await?
            .filter(|a| a.account.holder == Some(holder))
            .map(|a| a.account.tokens)
            .unwrap_or_default();
        tokens.retain(|t| !t.session);
        Ok(tokens)
    }

    /// Signs in (as [`sign_in`](Desk::sign_in)) and opens a browser session: a token kept,
    /// like an API token, only as a hash in the account, so every process serving the desk
    /// knows it, [`actor_for_token`](Desk::actor_for_token) accepts it, and it ends at
    /// [`end_session`](Desk::end_session) or after [`SESSION_IDLE`] unused. Returns the actor
    /// and the token (for the cookie), which is new at every sign-in.
    pub async fn open_session(&self, login: &str, password: &str) -> Result<(Actor, String)> {
        let actor = self.sign_in(login, password).await?;
        let token = account::token_for(login, secret_bytes()?);
        let now = self.now();
        let hash = account::token_hash(&token);
        let session = ApiToken {
            name: format!("session {}", &hash[..16]),
            hash,
            created: now,
            expires: Some(now + SESSION_IDLE),
            last_used: Some(now),
            session: true,
        };
        self.update_account(login, None, |account| {
            account.open_session(session.clone(), now);
            Ok(())
        })
        .await?;
        Ok((actor, token))
    }

    /// Ends the session `token` opened, in every process; an unknown one is already ended.
    pub async fn end_session(&self, token: &str) -> Result<()> {
        let Some(login) = account::token_login(token.trim()) else {
            return Ok(());
        };
        if self.store.account(&login).await?.is_none() {
            return Ok(());
        }
        let hash = account::token_hash(token.trim());
        self.update_account(&login, None, |account| {
            account.tokens.retain(|t| !(t.session && t.hash == hash));
            Ok(())
        })
        .await
    }

    /// Revokes the token of `of` named `name`: it stops working at once, in every process.
    pub async fn revoke_token(&self, by: &Actor, of: &Actor, name: &str) -> Result<()> {
        let (holder, login) = self.may_manage(by, of).await?;
        self.update_account(&login, Some(holder), |account| {
            let before = account.tokens.len();
            account.tokens.retain(|t| t.name != name);
            if account.holder != Some(holder) || account.tokens.len() == before {
                return Err(Error::NotFound(format!("token {name:?} of {of}")));
            }
            Ok(())
        })
        .await
    }

    /// The actor an API token stands for: refused when the token is unknown, expired or
    /// revoked, or its holder's account is disabled or removed.
    pub async fn actor_for_token(&self, token: &str) -> Result<Actor> {
        let unknown = || Error::Unauthorized("unknown or revoked API token".into());
        let login = account::token_login(token.trim()).ok_or_else(unknown)?;
        let stored = self.store.account(&login).await?.ok_or_else(unknown)?;
        let holder = stored.account.holder.ok_or_else(unknown)?;
        let found = stored.account.token(token.trim()).ok_or_else(unknown)?;
        let now = self.now();
        if found.expired(now) {
            return Err(Error::Unauthorized(if found.session {
                "the session has ended; sign in again".into()
            } else {
                format!("API token {:?} expired", found.name)
            }));
        }
        let actor = holder.actor(&login);
        self.door(&actor).await?;
        if found.use_is_news(now) {
            // Worth one write a minute at most; losing it to a concurrent change is fine.
            let mut account = stored.account.clone();
            let hash = found.hash.clone();
            if let Some(t) = account.tokens.iter_mut().find(|t| t.hash == hash) {
                t.last_used = Some(now);
                if t.session {
                    t.expires = Some(now + SESSION_IDLE);
                }
            }
            match self.store.save_account(&account, stored.version).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(actor)
    }
}

/// Makes `holder` the one who signs in under the account's login, unless another holds it.
fn claim(account: &mut Account, holder: Holder) -> Result<()> {
    match account.holder {
        Some(other) if other != holder => Err(Error::Invalid(format!(
            "login {} already signs in as {other}",
            account.login
        ))),
        _ => {
            account.holder = Some(holder);
            Ok(())
        }
    }
}
