//! Sign-in accounts: who may prove they are an agent or a customer, by password or API token.
//!
//! An account is a document per login in the store, apart from the configuration (which is
//! exported, versioned and read by every process) so a secret never travels with it. It keeps
//! the password only as an argon2id PHC string, API tokens only as SHA-256 hashes, and the
//! failed attempts that throttle guessing, so throttling holds across processes and restarts.
//! Every change is a compare-and-swap on the account's version, like the configuration's.
//!
//! The functions here are pure (hashing aside, which is deterministic given its salt); the
//! [`Desk`](crate::Desk) reads and writes the documents.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::article::hex;
use crate::event::Actor;

/// Failed sign-ins a login may have before attempts are refused for a while.
pub const FREE_FAILURES: u32 = 5;
/// The first refusal after [`FREE_FAILURES`]; each further failure doubles it.
const FIRST_REFUSAL: Duration = Duration::seconds(30);
/// The longest refusal: a locked-out owner gets in again within the hour.
const LONGEST_REFUSAL: Duration = Duration::hours(1);
/// Shortest password accepted (NIST SP 800-63B's minimum for chosen secrets).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted: argon2 hashes any length, but a megabyte per attempt is a
/// denial of service, not a password.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// How stale a token's `last_used` may get before a use records it: a use per request must not
/// cost a write per request.
const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);
/// Token strings start with this, so secret scanners and people recognise them.
const TOKEN_PREFIX: &str = "tct_";
/// Random bytes in a token's secret part (256 bits).
const TOKEN_SECRET_BYTES: usize = 32;
/// A browser session ends after this long unused.
pub const SESSION_IDLE: Duration = Duration::hours(8);
/// The most sessions one account keeps open (one per browser it signed in from); a sign-in
/// beyond it ends the one used longest ago.
const MAX_SESSIONS: usize = 32;

/// Who signs in under a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder {
    /// The agent of that login in the configuration.
    Agent,
    /// The customer user of that login in the customer directory.
    Customer,
}

impl Holder {
    /// The actor this holder acts as under `login`.
    pub fn actor(self, login: &str) -> Actor {
        match self {
            Holder::Agent => Actor::agent(login),
            Holder::Customer => Actor::customer(login),
        }
    }

    /// The holder an actor is, if it can hold an account.
    pub fn of(actor: &Actor) -> Option<(Holder, &str)> {
        match actor {
            Actor::Agent(login) => Some((Holder::Agent, login)),
            Actor::Customer(login) => Some((Holder::Customer, login)),
            Actor::System => None,
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Holder::Agent => "agent",
            Holder::Customer => "customer",
        })
    }
}

/// The sign-in account of one login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The login (an agent's or a customer's; one login signs in as one of them).
    pub login: String,
    /// Who signs in under it; `None` for a login nobody holds, whose failed attempts are
    /// counted all the same, so throttling does not reveal which logins exist.
    #[serde(default)]
    pub holder: Option<Holder>,
    /// The password as an argon2id PHC string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Failed sign-ins since the last success.
    #[serde(default)]
    pub failures: u32,
    /// Sign-ins are refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_until: Option<DateTime<Utc>>,
    /// API tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<ApiToken>,
}

impl Account {
    /// An account of `login` with nothing in it.
    pub fn new(login: &str, holder: Option<Holder>) -> Account {
        Account {
            login: login.to_string(),
            holder,
            password: None,
            failures: 0,
            refused_until: None,
            tokens: Vec::new(),
        }
    }

    /// Records a failed sign-in at `now`: past [`FREE_FAILURES`], refusals for a time that
    /// doubles with every further failure.
    pub fn failed(&mut self, now: DateTime<Utc>) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= FREE_FAILURES {
            let doublings = (self.failures - FREE_FAILURES).min(16);
            let wait = (FIRST_REFUSAL * (1 << doublings)).min(LONGEST_REFUSAL);
            self.refused_until = Some(now + wait);
        }
    }

    /// Whether sign-ins are refused at `now`, and until when.
    pub fn refused(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.refused_until.filter(|until| *until > now)
    }

    /// Keeps `session`, dropping expired sessions and, beyond the most an account keeps (32), the one used
    /// longest ago.
    pub fn open_session(&mut self, session: ApiToken, now: DateTime<Utc>) {
        self.tokens.retain(|t| !(t.session && t.expired(now)));
        let open = self.tokens.iter().filter(|t| t.session).count();
        if open >= MAX_SESSIONS
            && let Some(oldest) = self
                .tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| t.session)
                .min_by_key(|(_, t)| t.last_used)
                .map(|(i, _)| i)
        {
            self.tokens.remove(oldest);
        }
        self.tokens.push(session);
    }

    /// The token matching `presented`, if any.
    pub fn token(&self, presented: &str) -> Option<&ApiToken> {
        let hash = token_hash(presented);
        self.tokens.iter().find(|t| t.hash == hash)
    }
}

/// An API token as stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// What it is for ("irc-bot"); unique per account.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// When it was made.
    pub created: DateTime<Utc>,
    /// When it stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    /// When it was last used (to the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<DateTime<Utc>>,
    /// A browser session rather than an API token: made at sign-in, its expiry moves on with
    /// every use ([`SESSION_IDLE`]), and it is not listed among the tokens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub session: bool,
}

impl ApiToken {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// Whether a use at `now` is worth recording.
    pub fn use_is_news(&self, now: DateTime<Utc>) -> bool {
        self.last_used
            .is_none_or(|last| now - last >= LAST_USED_GRANULARITY)
    }
}

/// An account with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    /// 1 for a new account, +1 per change.
    pub version: u64,
    /// The account.
    pub account: Account,
}

/// Why a password is not accepted.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "a password may have at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(())
}

/// The hasher: argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane), which
/// are the argon2 crate's defaults.
fn argon2() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

/// `password` hashed with a 16-byte `salt`, as a PHC string.
pub fn hash_password(password: &str, salt: [u8; 16]) -> Result<String, String> {
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `stored`. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash no password matches (its salt and digest are fixed, its password unknown), with
/// the same parameters as real ones: verifying against it costs what a real verification
/// costs, so an unknown login takes as long as a wrong password.
pub const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZGVjb3lkZWNveWRlY295$3xu0n4Lx9qKBVRZm3P1bQJ+UQyvdGLG1H7Q2cCzT5q8";

/// A new token for `login` from `secret`: the string handed out once.
pub fn token_for(login: &str, secret: [u8; TOKEN_SECRET_BYTES]) -> String {
    format!("{TOKEN_PREFIX}{}_{}", hex(login.as_bytes()), hex(&secret))
}

/// The login a token string names, if it is shaped like one of ours.
pub fn token_login(token: &str) -> Option<String> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (login, secret) = rest.split_once('_')?;
    if secret.len() != TOKEN_SECRET_BYTES * 2 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    String::from_utf8(unhex(login)?).ok()
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    crate::article::ContentHash::of(token.as_bytes()).0
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_hash_is_argon2id_with_owasp_parameters_and_verifies_only_its_password() {
        let hash = hash_password("correct horse", [7; 16]).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn the_decoy_is_well_formed_with_the_same_parameters() {
        let real = hash_password("whatever it is", [1; 16]).unwrap();
        let params = |h: &str| h.split('$').nth(3).map(String::from);
        assert_eq!(params(DECOY_HASH), params(&real));
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
        assert!(!verify_password("", DECOY_HASH));
        assert!(!verify_password("password", DECOY_HASH));
    }

    #[test]
    fn refusals_start_after_five_failures_and_double_up_to_an_hour() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut account = Account::new("anna", Some(Holder::Agent));
        for _ in 0..4 {
            account.failed(now);
            assert_eq!(account.refused(now), None);
        }
        account.failed(now);
        assert_eq!(account.refused(now), Some(now + Duration::seconds(30)));
        account.failed(now);
        assert_eq!(account.refused(now), Some(now + Duration::seconds(60)));
        for _ in 0..40 {
            account.failed(now);
        }
        assert_eq!(account.refused(now), Some(now + Duration::hours(1)));
        assert_eq!(account.refused(now + Duration::hours(1)), None);
    }

    #[test]
    fn tokens_name_their_login_and_nothing_else_parses() {
        let token = token_for("anna.müller", [0xab; 32]);
        assert!(token.starts_with("tct_"));
        assert_eq!(token_login(&token).as_deref(), Some("anna.müller"));
        for bad in [
            "",
            "tct_",
            "tct_616e6e61",
            "tct_616e6e61_abc",
            "tct_6_".to_string().as_str(),
            &token.replace("tct_", "xyz_"),
            &format!("{token}0"),
        ] {
            assert_eq!(token_login(bad), None, "{bad:?}");
        }
        assert_eq!(token_hash(&token).len(), 64);
        assert_ne!(token_hash(&token), token_hash(&format!("{token} ")));
    }

    #[test]
    fn passwords_need_eight_characters_and_at_most_a_kilobyte() {
        assert!(check_password("sieben7").is_err());
        assert!(check_password("achtacht").is_ok());
        assert!(check_password("äöüäöüäö").is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
