//! How a request says who it is: a session cookie or an API token, both checked by the Desk.
//!
//! A session is the Desk's ([`Desk::open_session`](ticketcore::Desk::open_session)): a token
//! kept only as a hash in the store, so every server process on the desk knows it and a
//! sign-out ends it everywhere. Its CSRF token is derived from it (SHA-256 of the session
//! under a fixed label), so any process can check it and another site, which cannot read the
//! cookie, cannot name it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use sha2::{Digest, Sha256};
use ticketcore::Actor;

use crate::{App, Problem};

/// The session cookie's name.
pub const COOKIE: &str = "tc_session";
/// The header a state-changing API request on a session names its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of session `id`.
pub fn csrf_token(id: &str) -> String {
    let digest = Sha256::digest(format!("ticketcore-web csrf\0{id}").as_bytes());
    digest[..24].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `named` is session `id`'s CSRF token, compared in constant time.
pub fn csrf_matches(id: &str, named: &str) -> bool {
    let expected = csrf_token(id);
    expected.len() == named.len()
        && expected
            .bytes()
            .zip(named.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The value of cookie `name` in the request's headers.
pub fn cookie_named(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

/// The session id the request's cookie names.
pub fn cookie(parts: &Parts) -> Option<String> {
    cookie_named(&parts.headers, COOKIE).filter(|id| !id.is_empty())
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

/// A browser's visitor for the HTML pages: signed in by cookie or not; an ended session is
/// not signed in. Forms name the CSRF token in a field, which the handler checks.
#[derive(Debug, Clone)]
pub struct Visitor(pub Option<Caller>);

impl Caller {
    /// Who the request is, without checking a CSRF token.
    async fn identify(parts: &Parts, app: &App) -> Result<Option<Caller>, Problem> {
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
        let actor = app.desk.actor_for_token(&id).await.map_err(|e| match e {
            ticketcore::Error::Unauthorized(_) => {
                Problem::unauthorized("the session has ended; sign in again")
            }
            e => e.into(),
        })?;
        Ok(Some(Caller {
            actor,
            session: Some(id),
        }))
    }

    /// Who the request is; a session's change must name its CSRF token in the header.
    async fn of(parts: &Parts, app: &App) -> Result<Option<Caller>, Problem> {
        let caller = Caller::identify(parts, app).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Some(Caller {
            session: Some(id), ..
        }) = &caller
        {
            let named = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !safe && !named.is_some_and(|named| csrf_matches(id, named)) {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "missing or wrong CSRF token (X-CSRF-Token)",
                ));
            }
        }
        Ok(caller)
    }

    /// This session's CSRF token (none for a token's caller).
    pub fn csrf(&self) -> String {
        self.session.as_deref().map(csrf_token).unwrap_or_default()
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

impl FromRequestParts<App> for Visitor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(Problem::invalid(
                "the pages take a session cookie; scripts use the API under /api",
            ));
        }
        match Caller::identify(parts, app).await {
            Ok(caller) => Ok(Visitor(caller)),
            Err(p) if p.status == StatusCode::UNAUTHORIZED => Ok(Visitor(None)),
            Err(p) => Err(p),
        }
    }
}
