//! Errors as the API answers them: a status and JSON `{"code","message"}`, the code one of
//! `unauthorized`, `forbidden`, `not_found`, `locked`, `conflict`, `invalid`,
//! `too_many_requests`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ticketcore::{Error, StoreError};

/// A refused or failed request.
#[derive(Debug)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// The machine-readable code.
    pub code: &'static str,
    /// What happened, for a person.
    pub message: String,
}

impl Problem {
    /// A problem of `status` and `code`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401: no (valid) session or token.
    pub fn unauthorized(message: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404, as for anything the caller may not know exists.
    pub fn not_found(message: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400: the request makes no sense.
    pub fn invalid(message: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        let message = e.to_string();
        let (status, code) = match &e {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Denied { .. } | Error::FaqDenied { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Error::Locked { .. } => (StatusCode::LOCKED, "locked"),
            Error::Contention(_) | Error::Store(StoreError::Conflict(_)) => {
                (StatusCode::CONFLICT, "conflict")
            }
            Error::SignIn | Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::SignInRefused { .. } | Error::Store(StoreError::QuotaExhausted(_)) => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            Error::Store(_) | Error::NotConfigured => {
                tracing::warn!("request failed: {e}");
                (StatusCode::SERVICE_UNAVAILABLE, "conflict")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid"),
        };
        Problem::new(status, code, message)
    }
}

/// The body every refusal answers with.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// One of unauthorized, forbidden, not_found, locked, conflict, invalid,
    /// too_many_requests.
    pub code: &'static str,
    /// What happened, for a person.
    pub message: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            code: self.code,
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}
