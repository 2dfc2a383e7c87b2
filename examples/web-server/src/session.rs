//! Signed-in sessions and how a request says who it is.
//!
//! A session id is 256 random bits, handed out once in the cookie and kept here only as its
//! SHA-256 hash, with the actor, a CSRF token and an expiry that every use pushes back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use ticketcore::Actor;

use crate::{App, Problem};

/// The session cookie's name.
pub const COOKIE: &str = "tc_session";
/// The header a state-changing request on a session names its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends after this long unused.
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// The most sessions held at once; the oldest unused ones go first beyond it.
const MAX_SESSIONS: usize = 100_000;

/// One signed-in session.
#[derive(Debug, Clone)]
struct Session {
    actor: Actor,
    csrf: String,
    used: Instant,
}

/// The sessions of this process, by the hash of their id.
#[derive(Debug, Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
}

/// A new random secret, URL-safe.
fn secret() -> Result<String, Problem> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "conflict",
            format!("no randomness for a session: {e}"),
        )
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_hash.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `actor`; returns its id (for the cookie) and CSRF token.
    pub fn open(&self, actor: Actor) -> Result<(String, String), Problem> {
        let (id, csrf) = (secret()?, secret()?);
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            let now = Instant::now();
            sessions.retain(|_, s| now.duration_since(s.used) < IDLE);
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.used).map(|(k, _)| *k)
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            hash(&id),
            Session {
                actor,
                csrf: csrf.clone(),
                used: Instant::now(),
            },
        );
        Ok((id, csrf))
    }

    /// The live session of `id` (its use pushes the expiry back).
    fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.lock();
        let key = hash(id);
        let session = sessions.get_mut(&key)?;
        if session.used.elapsed() >= IDLE {
            sessions.remove(&key);
            return None;
        }
        session.used = Instant::now();
        Some(session.clone())
    }

    /// Ends the session of `id`.
    pub fn close(&self, id: &str) {
        self.lock().remove(&hash(id));
    }
}

/// The session id the request's cookie names.
pub fn cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value for session `id` (an empty id removes the cookie).
pub fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let age = if id.is_empty() { "; Max-Age=0" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}{age}")
}

/// Who makes a request: a session's actor (with its id) or a token's owner.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The actor the request acts as.
    pub actor: Actor,
    /// The session id, when signed in by cookie.
    pub session: Option<String>,
}

/// A caller who may be anonymous (the public FAQ).
#[derive(Debug, Clone)]
pub struct Reader(pub Option<Caller>);

impl Caller {
    async fn of(parts: &Parts, app: &App) -> Result<Option<Caller>, Problem> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Problem::unauthorized("Authorization must be \"Bearer TOKEN\""))?;
            let actor = app.desk.actor_for_token(token.trim()).await?;
            return Ok(Some(Caller {
                actor,
                session: None,
            }));
        }
        let Some(id) = cookie(parts) else {
            return Ok(None);
        };
        let session = app
            .sessions
            .get(&id)
            .ok_or_else(|| Problem::unauthorized("the session has ended; sign in again"))?;
        // A session's changes name its CSRF token: another site's forged request cannot.
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let named = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !safe && named != Some(session.csrf.as_str()) {
            return Err(Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "missing or wrong CSRF token (X-CSRF-Token)",
            ));
        }
        Ok(Some(Caller {
            actor: session.actor,
            session: Some(id),
        }))
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Caller::of(parts, app).await?.ok_or_else(|| {
            Problem::unauthorized("sign in (POST /api/session) or send Authorization: Bearer TOKEN")
        })
    }
}

impl FromRequestParts<App> for Reader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Reader(Caller::of(parts, app).await?))
    }
}
