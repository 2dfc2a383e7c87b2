//! Server-rendered pages: the templates, the message catalogs (English and German) and what
//! every page shows (who is signed in, the CSRF token for its forms, the language switch).
//!
//! Templates are minijinja with auto-escaping on, compiled into the binary; a page passes its
//! data as serde values, so nothing a customer wrote reaches the page unescaped.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use minijinja::{Environment, Value, context};
use ticketcore::Actor;

use crate::session::{Caller, Visitor, cookie_named};
use crate::{App, Problem};

/// The cookie remembering a language chosen with the switch.
const LANG_COOKIE: &str = "tc_lang";

/// The templates, by name.
const TEMPLATES: [(&str, &str); 12] = [
    ("base.html", include_str!("../templates/base.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    (
        "dashboard.html",
        include_str!("../templates/dashboard.html"),
    ),
    ("ticket.html", include_str!("../templates/ticket.html")),
    ("search.html", include_str!("../templates/search.html")),
    (
        "notifications.html",
        include_str!("../templates/notifications.html"),
    ),
    ("stats.html", include_str!("../templates/stats.html")),
    ("faq.html", include_str!("../templates/faq.html")),
    (
        "faq_entry.html",
        include_str!("../templates/faq_entry.html"),
    ),
    ("portal.html", include_str!("../templates/portal.html")),
    (
        "new_ticket.html",
        include_str!("../templates/new_ticket.html"),
    ),
    ("error.html", include_str!("../templates/error.html")),
];

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// German.
    De,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// Its code, as in `Accept-Language`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    fn of(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best language of an `Accept-Language` header (`de-AT;q=0.8, en;q=0.5`).
    pub fn negotiate(accept: &str) -> Option<Lang> {
        accept
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let lang = Lang::of(parts.next()?)?;
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0).then_some((lang, q))
            })
            .fold(None, |best: Option<(Lang, f32)>, (lang, q)| match best {
                Some((_, b)) if b >= q => best,
                _ => Some((lang, q)),
            })
            .map(|(lang, _)| lang)
    }

    /// Its message catalog.
    fn catalog(self) -> &'static Value {
        &PAGES.catalogs[self as usize]
    }
}

impl Lang {
    /// The language a request asks for: the switch's cookie, else `Accept-Language`.
    pub fn of_request(headers: &HeaderMap) -> Lang {
        let chosen = cookie_named(headers, LANG_COOKIE).and_then(|c| Lang::of(&c));
        let accepted = || {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::negotiate)
        };
        chosen.or_else(accepted).unwrap_or(Lang::En)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of_request(&parts.headers))
    }
}

/// The compiled templates and the catalogs.
struct Pages {
    env: Environment<'static>,
    catalogs: Vec<Value>,
    /// Templates or catalogs that did not load (a build defect the tests catch).
    broken: Vec<String>,
}

static PAGES: LazyLock<Pages> = LazyLock::new(|| {
    let mut env = Environment::new();
    let mut broken = Vec::new();
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            broken.push(format!("template {name}: {e}"));
        }
    }
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let catalogs = [
        include_str!("../i18n/en.toml"),
        include_str!("../i18n/de.toml"),
    ]
    .into_iter()
    .zip(Lang::ALL)
    .map(
        |(text, lang)| match toml::from_str::<BTreeMap<String, String>>(text) {
            Ok(map) => Value::from_serialize(&map),
            Err(e) => {
                broken.push(format!("catalog {}: {e}", lang.code()));
                Value::from_serialize(BTreeMap::<String, String>::new())
            }
        },
    )
    .collect();
    Pages {
        env,
        catalogs,
        broken,
    }
});

/// Problems with the compiled-in templates and catalogs (none in a good build).
pub fn defects() -> Vec<String> {
    PAGES.broken.clone()
}

/// The message `key` in `lang` (the key itself when the catalog lacks it).
pub fn text(lang: Lang, key: &str) -> String {
    lang.catalog()
        .get_attr(key)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| key.to_string())
}

/// What a page is rendered for: the language and who looks.
#[derive(Debug, Clone)]
pub struct Viewer<'a> {
    /// The language.
    pub lang: Lang,
    /// Who is signed in, if anyone.
    pub caller: Option<&'a Caller>,
}

impl Viewer<'_> {
    /// Whether an agent looks.
    pub fn is_agent(&self) -> bool {
        matches!(self.caller.map(|c| &c.actor), Some(Actor::Agent(_)))
    }

    /// The page `template` with `data`, and what every page shows.
    pub fn render(&self, status: StatusCode, template: &str, data: Value) -> Response {
        let (login, kind, csrf) = match self.caller {
            Some(caller) => {
                let (kind, login) = match &caller.actor {
                    Actor::Agent(login) => ("agent", login.as_str()),
                    Actor::Customer(login) => ("customer", login.as_str()),
                    Actor::System => ("system", "system"),
                };
                (login.to_string(), kind, caller.csrf())
            }
            None => (String::new(), "", String::new()),
        };
        let other = match self.lang {
            Lang::En => Lang::De,
            Lang::De => Lang::En,
        };
        let ctx = context! {
            t => self.lang.catalog(),
            lang => self.lang.code(),
            other_lang => other.code(),
            me => context! { login, kind },
            csrf,
            ..data
        };
        let rendered = PAGES.env.get_template(template).and_then(|t| t.render(ctx));
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("page {template}: {e:#}");
                // A developer's build says what broke; a release build only that it did.
                let detail = if cfg!(debug_assertions) {
                    format!("<pre>{}</pre>", escape(&e.to_string()))
                } else {
                    String::new()
                };
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html(format!(
                        "<!doctype html><title>error</title><p>{}</p>{detail}",
                        text(self.lang, "page_broken")
                    )),
                )
                    .into_response()
            }
        }
    }

    /// The error page for a refusal: its status, and the Desk's reason.
    pub fn refusal(&self, problem: &Problem) -> Response {
        self.render(
            problem.status,
            "error.html",
            context! { nav => "", status => problem.status.as_u16(), message => &problem.message },
        )
    }
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page request refused before its handler ran (a form too large, not UTF-8, from another
/// site) answers with the error page rather than the API's JSON.
pub async fn html_refusals(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let page = !request.uri().path().starts_with("/api/");
    let lang = Lang::of_request(request.headers());
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !page || !json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text(lang, "refused"));
    Viewer { lang, caller: None }.refusal(&Problem::new(status, "refused", message))
}

/// Who a page is for.
pub trait Audience: Send + Sync {
    /// Whether `actor` is among them.
    fn admits(actor: &Actor) -> bool;
    /// Why anyone else is turned away.
    const REFUSAL: &'static str;
}

/// Agents' pages.
#[derive(Debug)]
pub struct Agents;

impl Audience for Agents {
    fn admits(actor: &Actor) -> bool {
        matches!(actor, Actor::Agent(_))
    }
    const REFUSAL: &'static str = "this page is for agents";
}

/// Customers' pages (the portal).
#[derive(Debug)]
pub struct Customers;

impl Audience for Customers {
    fn admits(actor: &Actor) -> bool {
        matches!(actor, Actor::Customer(_))
    }
    const REFUSAL: &'static str = "the portal is for customers; agents work on the desk";
}

/// A page for audience `A`: its signed-in caller and language. Anyone else is sent to sign
/// in (and back here afterwards) or refused with 403.
#[derive(Debug)]
pub struct Only<A> {
    /// The signed-in caller.
    pub caller: Caller,
    /// The page's language.
    pub lang: Lang,
    audience: std::marker::PhantomData<A>,
}

impl<A> Only<A> {
    /// How the page is rendered for its caller.
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer {
            lang: self.lang,
            caller: Some(&self.caller),
        }
    }
}

impl<A: Audience> FromRequestParts<App> for Only<A> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let lang = Lang::of_request(&parts.headers);
        let Visitor(caller) = Visitor::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        match caller {
            Some(caller) if A::admits(&caller.actor) => Ok(Only {
                caller,
                lang,
                audience: std::marker::PhantomData,
            }),
            Some(caller) => Err(Viewer {
                lang,
                caller: Some(&caller),
            }
            .refusal(&Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                A::REFUSAL,
            ))),
            None => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map_or("/", axum::http::uri::PathAndQuery::as_str);
                Err(sign_in_first(back))
            }
        }
    }
}

/// Sends a visitor who is not signed in to the sign-in page, coming back to `next`.
pub fn sign_in_first(next: &str) -> Response {
    let next = percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC);
    Redirect::to(&format!("/sign-in?next={next}")).into_response()
}

/// `GET /lang/{code}`: remembers the language and goes back to the page it came from.
pub async fn choose_language(
    axum::extract::Path(code): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(lang) = Lang::of(&code) else {
        return Problem::not_found("no such language").into_response();
    };
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| local_path(r, &headers))
        .unwrap_or_else(|| "/".into());
    (
        [(
            header::SET_COOKIE,
            format!(
                "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
                lang.code()
            ),
        )],
        Redirect::to(&back),
    )
        .into_response()
}

/// The path of `url` when it points at this server (a `Referer`), so a redirect never leaves
/// the site.
fn local_path(url: &str, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let path = rest.strip_prefix(host)?;
    path.starts_with('/')
        .then(|| path.to_string())
        .filter(|p| !p.starts_with("//"))
}

/// A path to return to after sign-in: only a local one.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

/// A file's size as people read it.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// A moment as people read it, in the desk's time zone.
pub fn when(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
}

/// The time zone the desk's people live in: its first calendar's, else UTC.
pub async fn zone(app: &App) -> chrono_tz::Tz {
    app.desk
        .config()
        .await
        .ok()
        .and_then(|c| c.calendars.first().map(|c| c.time_zone.clone()))
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

/// The site's own assets: a fixed list, so no request names a file on disk.
pub async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "desk.css" => (
            include_str!("../static/desk.css"),
            "text/css; charset=utf-8",
        ),
        "desk.js" => (
            include_str!("../static/desk.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return Problem::not_found("no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn templates_and_catalogs_load_and_agree() {
        assert_eq!(defects(), Vec::<String>::new());
        let keys = |text: &str| {
            toml::from_str::<BTreeMap<String, String>>(text)
                .unwrap()
                .into_keys()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(include_str!("../i18n/en.toml")),
            keys(include_str!("../i18n/de.toml")),
            "both catalogs have the same messages"
        );
    }

    #[test]
    fn languages_are_negotiated() {
        assert_eq!(Lang::negotiate("de-AT,de;q=0.9,en;q=0.8"), Some(Lang::De));
        assert_eq!(Lang::negotiate("fr, en;q=0.5, de;q=0.4"), Some(Lang::En));
        assert_eq!(Lang::negotiate("de;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(Lang::negotiate("fr, *;q=0.1"), None);
        assert_eq!(Lang::negotiate("de;q=x"), None);
        assert_eq!(text(Lang::De, "sign_in"), "Anmelden");
        assert_eq!(text(Lang::En, "no such key"), "no such key");
    }

    #[test]
    fn redirects_stay_on_the_site() {
        assert_eq!(safe_next(Some("/tickets/1")), "/tickets/1");
        for hostile in ["//evil.example/", "https://evil.example/", "/\\evil", "x"] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "desk.example".parse().unwrap());
        assert_eq!(
            local_path("http://desk.example/desk?q=1", &headers).as_deref(),
            Some("/desk?q=1")
        );
        assert_eq!(local_path("http://desk.example.evil/x", &headers), None);
        assert_eq!(local_path("http://desk.example//evil/x", &headers), None);
    }
}
