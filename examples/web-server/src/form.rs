//! HTML form posts: the fields and files of a form (URL-encoded or multipart), read as the
//! signed-in visitor after the CSRF token and the origin are checked.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use ticketcore::article::NewAttachment;

use crate::session::{Caller, csrf_matches};
use crate::{App, Problem};

/// The most attachments one form may carry.
const MAX_FILES: usize = 20;

/// A submitted form: its text fields in order (a name may repeat) and its files.
#[derive(Debug, Default)]
pub struct Form {
    /// Name and value of each text field.
    pub fields: Vec<(String, String)>,
    /// Uploaded files (empty file inputs left out).
    pub files: Vec<NewAttachment>,
}

impl Form {
    /// The first value of `name`, trimmed, if not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(n, v)| n == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// Refuses a form whose CSRF token is not `caller`'s session's.
    pub fn check(&self, caller: &Caller) -> Result<(), Problem> {
        let ok = match (&caller.session, self.get("csrf")) {
            (Some(id), Some(named)) => csrf_matches(id, named),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this form is not from your session (its security token does not match); \
                 reload the page and try again",
            ))
        }
    }
}

/// A value of a URL-encoded form: `+` is a space, `%XX` a byte, and the bytes must be UTF-8.
fn decode(text: &str) -> Result<String, Problem> {
    let spaced = text.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|_| Problem::invalid("the form is not valid UTF-8"))
}

/// Refuses a post another site made: browsers name the page's origin, which must be ours.
fn same_origin(headers: &HeaderMap) -> Result<(), Problem> {
    let cross = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let foreign = match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
            authority != host
        }
        _ => false,
    };
    if cross || foreign {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "forms are accepted only from this site's own pages",
        ));
    }
    Ok(())
}

impl FromRequest<App> for Form {
    type Rejection = Problem;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        same_origin(request.headers())?;
        let kind = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if kind.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, app)
                .await
                .map_err(|e| Problem::invalid(e.body_text()))?;
            return read_multipart(&mut multipart).await;
        }
        if !kind.starts_with("application/x-www-form-urlencoded") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid",
                "a form is sent as application/x-www-form-urlencoded or multipart/form-data",
            ));
        }
        let body = Bytes::from_request(request, app)
            .await
            .map_err(|e| Problem::new(e.status(), "invalid", e.body_text()))?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| Problem::invalid("the form is not valid UTF-8"))?;
        let mut form = Form::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            form.fields.push((decode(name)?, decode(value)?));
        }
        Ok(form)
    }
}

async fn read_multipart(multipart: &mut Multipart) -> Result<Form, Problem> {
    let mut form = Form::default();
    let refused = |e: axum::extract::multipart::MultipartError| {
        Problem::new(e.status(), "invalid", e.body_text())
    };
    while let Some(field) = multipart.next_field().await.map_err(refused)? {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) => {
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let data = field.bytes().await.map_err(refused)?;
                if file_name.is_empty() && data.is_empty() {
                    continue;
                }
                if form.files.len() == MAX_FILES {
                    return Err(Problem::invalid(format!(
                        "at most {MAX_FILES} attachments at once"
                    )));
                }
                form.files.push(NewAttachment {
                    name: file_name,
                    content_type,
                    inline: false,
                    data: data.to_vec(),
                });
            }
            None => {
                let data = field.bytes().await.map_err(refused)?;
                let value = String::from_utf8(data.to_vec())
                    .map_err(|_| Problem::invalid("the form is not valid UTF-8"))?;
                form.fields.push((name, value));
            }
        }
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_decode_or_are_refused() {
        assert_eq!(decode("a+b%20c%C3%A4").unwrap(), "a b cä");
        assert!(decode("%FF%FE").is_err());
    }

    #[test]
    fn posts_from_elsewhere_are_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(&[("host", "desk.example")])).is_ok());
        assert!(
            same_origin(&headers(&[
                ("host", "desk.example"),
                ("origin", "https://desk.example")
            ]))
            .is_ok()
        );
        for bad in [
            headers(&[("host", "desk.example"), ("origin", "https://evil.example")]),
            headers(&[("host", "desk.example"), ("origin", "null")]),
            headers(&[("host", "desk.example"), ("sec-fetch-site", "cross-site")]),
        ] {
            assert!(same_origin(&bad).is_err());
        }
    }
}
