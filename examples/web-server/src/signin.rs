//! Signing in and out in the browser: a form posting to the Desk's sign-in, which opens a
//! session shared by every server process, replacing any the browser had.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use crate::api::end_session;
use crate::form::Form;
use crate::page::{Lang, Viewer, safe_next};
use crate::session::{Visitor, set_cookie};
use crate::{App, Problem};

#[derive(Debug, Deserialize)]
pub struct SignInParams {
    next: Option<String>,
}

/// `GET /sign-in`: the sign-in form.
pub async fn form(lang: Lang, Query(params): Query<SignInParams>) -> Response {
    Viewer { lang, caller: None }.render(
        StatusCode::OK,
        "sign_in.html",
        context! { nav => "sign_in", next => safe_next(params.next.as_deref()), login => "", error => None::<String> },
    )
}

/// `POST /sign-in`: signs in and goes on to where the visitor was going.
pub async fn submit(
    State(app): State<App>,
    lang: Lang,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let login = form.get("login").unwrap_or_default().to_string();
    let password = form
        .fields
        .iter()
        .find(|(n, _)| n == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let next = safe_next(form.get("next"));
    match app.desk.open_session(&login, &password).await {
        Ok((_, id)) => {
            end_session(&app, &headers).await;
            (
                [(header::SET_COOKIE, set_cookie(&id, app.secure_cookies))],
                Redirect::to(&next),
            )
                .into_response()
        }
        Err(e) => {
            let problem = Problem::from(e);
            Viewer { lang, caller: None }.render(
                problem.status,
                "sign_in.html",
                context! { nav => "sign_in", next, login, error => problem.message },
            )
        }
    }
}

/// `POST /sign-out`: ends the session everywhere.
pub async fn sign_out(
    State(app): State<App>,
    visitor: Visitor,
    lang: Lang,
    form: Form,
) -> Response {
    if let Some(caller) = &visitor.0 {
        if let Err(p) = form.check(caller) {
            return Viewer {
                lang,
                caller: Some(caller),
            }
            .refusal(&p);
        }
        if let Some(id) = &caller.session
            && let Err(e) = app.desk.end_session(id).await
        {
            return Viewer { lang, caller: None }.refusal(&e.into());
        }
    }
    (
        [(header::SET_COOKIE, set_cookie("", app.secure_cookies))],
        Redirect::to("/sign-in"),
    )
        .into_response()
}
