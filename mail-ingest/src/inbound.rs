//! An incoming message as the PostMaster sees it: decoded once from raw bytes (MIME,
//! transfer encodings, RFC 2047 words, charsets) into what routing, follow-up detection,
//! filters and loop protection need.

use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use ticketcore::NewAttachment;
use ticketcore::article::ContentHash;

use crate::{MailError, charset};

/// One mailbox: an address and, where given, a display name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    /// Display name.
    pub name: Option<String>,
    /// The address, as written.
    pub address: String,
}

impl Mailbox {
    /// "Name <address>", or the bare address.
    pub fn display(&self) -> String {
        match &self.name {
            Some(name) if !name.is_empty() => format!("{name} <{}>", self.address),
            _ => self.address.clone(),
        }
    }
}

/// What a delivery-status report (RFC 3464) says about a mail we sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReport {
    /// The Message-ID of the mail that failed, from the returned message or its headers.
    pub original_message_id: Option<String>,
    /// The recipient that failed (`Final-Recipient`).
    pub recipient: Option<String>,
    /// `Action` (failed, delayed, ...).
    pub action: Option<String>,
    /// `Status` (e.g. 5.1.1).
    pub status: Option<String>,
}

/// A parsed incoming message.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To ids.
    pub in_reply_to: Vec<String>,
    /// References ids, oldest first.
    pub references: Vec<String>,
    /// The author (From).
    pub from: Option<Mailbox>,
    /// Where answers go (Reply-To, else From).
    pub reply_to: Option<Mailbox>,
    /// The envelope sender (`Return-Path`); `Some("")` for the null sender `<>` of bounces.
    pub return_path: Option<String>,
    /// Every recipient address in routing order: Delivered-To, X-Original-To, Envelope-To,
    /// Resent-To, To, Cc.
    pub recipients: Vec<String>,
    /// To, as a display list.
    pub to: String,
    /// Cc, as a display list.
    pub cc: String,
    /// Subject, decoded, prefixes and tags kept.
    pub subject: String,
    /// The text body (rendered from HTML for HTML-only mail).
    pub body: String,
    /// The HTML body, if the mail has one.
    pub body_html: Option<String>,
    /// Attachments, inline images and forwarded messages.
    pub attachments: Vec<NewAttachment>,
    /// Header fields (name, unfolded raw value), for filters and loop checks.
    pub headers: Vec<(String, String)>,
    /// The delivery-status report, if this is one.
    pub report: Option<DeliveryReport>,
    /// SHA-256 of the raw bytes: identifies a message without a Message-ID.
    pub content_hash: String,
    /// Size in bytes.
    pub size: usize,
}

fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// Whether `raw` can be taken in at all, reading no more than its header: the checks whose
/// failure an MTA reports to the sender (too large, not a message). What a spool checks
/// before it accepts mail that is delivered later.
pub fn admissible(raw: &[u8], limit: u64) -> Result<(), MailError> {
    within(raw, limit)?;
    guarded(|| a_message(MessageParser::new().parse_headers(raw)).map(drop))
}

/// Reads untrusted bytes with mail-parser, a panic counting as bytes that are no message.
/// mail-parser 0.11 has a `debug_assert!` that input can reach (a MIME part whose multipart
/// parent it lost track of; the `ingest` fuzz target found it): built with debug assertions,
/// it panicked there, and library code must not panic on input.
fn guarded<T>(read: impl FnOnce() -> Result<T, MailError>) -> Result<T, MailError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(MailError::Unparsable(
            "its MIME structure is inconsistent: the parser gave up on it".into(),
        ))
    })
}

fn within(raw: &[u8], limit: u64) -> Result<(), MailError> {
    if raw.len() as u64 > limit {
        return Err(MailError::TooLarge {
            size: raw.len(),
            limit,
        });
    }
    Ok(())
}

/// The parsed message, if it is one: at least one well-formed header field.
fn a_message(parsed: Option<Message<'_>>) -> Result<Message<'_>, MailError> {
    let message =
        parsed.ok_or_else(|| MailError::Unparsable("no message found in the input".into()))?;
    let field_name =
        |name: &str| !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if !message.headers_raw().any(|(name, _)| field_name(name)) {
        return Err(MailError::Unparsable("no header fields".into()));
    }
    Ok(message)
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value {
        HeaderValue::Text(t) => t.split_whitespace().map(strip_brackets).collect(),
        HeaderValue::TextList(l) => l
            .iter()
            .flat_map(|t| t.split_whitespace())
            .map(strip_brackets)
            .collect(),
        _ => Vec::new(),
    };
    list.into_iter().filter(|id| !id.is_empty()).collect()
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| {
                    let mut name = addr.name().map(|n| n.trim().to_string());
                    let mut address = addr.address()?.trim().to_string();
                    // A bare quoted local part (`"john doe"@example.com`) comes back from the
                    // parser as a name and an address without its local part: put it back.
                    if let Some(domain) = address.strip_prefix('@')
                        && let Some(local) = name.take()
                    {
                        address = format!("{}@{domain}", quoted_local(&local));
                    }
                    // A display name without an address is no mailbox to answer.
                    address.contains('@').then_some(Mailbox { name, address })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A local part as an address writes it: bare when it is a dot-atom, quoted (with `"` and
/// `\` escaped) otherwise, so `"john doe"@x` reads the same from every header form.
pub fn quoted_local(local: &str) -> String {
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let dot_atom = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c == '.' || atext(c));
    if dot_atom {
        return local.to_string();
    }
    let escaped: String = local
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// Addresses in a header's raw text: `<a@b>` forms, or bare words with an `@`.
pub fn addresses_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let inner = rest[start + 1..start + len].trim();
        if inner.contains('@') {
            found.push(inner.to_string());
        }
        rest = &rest[start + len + 1..];
    }
    if found.is_empty() {
        found = text
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .map(|w| w.trim_matches(|c: char| c == '"' || c == '(' || c == ')'))
            .filter(|w| w.contains('@'))
            .map(String::from)
            .collect();
    }
    found
}

/// The values of header `name` (case-insensitive).
fn values<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn unfold(raw: &str) -> String {
    // Most fields fit on one line: no need to split and join those.
    let trimmed = raw.trim();
    if !trimmed.contains(['\r', '\n']) {
        return trimmed.to_string();
    }
    raw.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn display_list(boxes: &[Mailbox]) -> String {
    boxes
        .iter()
        .map(Mailbox::display)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A file name for an attachment that has none.
/// The extension a part's type is known by.
fn extension(part: &MessagePart<'_>) -> &'static str {
    match part
        .content_type()
        .map(|c| {
            (
                c.ctype().to_ascii_lowercase(),
                c.subtype().unwrap_or("").to_ascii_lowercase(),
            )
        })
        .as_ref()
        .map(|(t, s)| (t.as_str(), s.as_str()))
    {
        Some(("message", "rfc822")) => "eml",
        Some(("text", "plain")) => "txt",
        Some(("text", "html")) => "html",
        Some(("text", "calendar")) => "ics",
        Some(("image", "png")) => "png",
        Some(("image", "jpeg" | "jpg" | "pjpeg")) => "jpg",
        Some(("image", "gif")) => "gif",
        Some(("image", "webp")) => "webp",
        Some(("image", "svg+xml")) => "svg",
        Some(("application", "pdf")) => "pdf",
        Some(("application", "zip")) => "zip",
        None if matches!(part.body, PartType::Message(_)) => "eml",
        _ => "bin",
    }
}

/// A file name made of `text`: no path, no characters file systems refuse, not too long.
fn file_name(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    clean.trim().trim_matches('.').chars().take(100).collect()
}

/// The name a part without one is known by, as people expect it: an attached message by its
/// subject (`.eml`), an inline image by its Content-ID or Content-Location (`image001.png`),
/// anything else by its type and position.
fn fallback_name(part: &MessagePart<'_>, n: usize) -> String {
    let ext = extension(part);
    if let PartType::Message(nested) = &part.body {
        let subject = file_name(nested.subject().unwrap_or_default());
        if !subject.is_empty() {
            return format!("{subject}.eml");
        }
    }
    let location = part
        .content_location()
        .map(|l| l.rsplit('/').next().unwrap_or(l).to_string());
    let id = part
        .content_id()
        .map(|id| id.split('@').next().unwrap_or(id).to_string());
    for given in [location, id].into_iter().flatten() {
        let given = file_name(&given);
        if given.is_empty() {
            continue;
        }
        let has_ext = given
            .rsplit_once('.')
            .is_some_and(|(stem, e)| !stem.is_empty() && (1..=5).contains(&e.len()));
        return if has_ext {
            given
        } else {
            format!("{given}.{ext}")
        };
    }
    format!("attachment-{n}.{ext}")
}

/// Names made distinct, keeping the first as it is: `scan.pdf`, `scan (2).pdf`, …
fn distinct(attachments: &mut [NewAttachment]) {
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for a in attachments.iter_mut() {
        if seen.insert(a.name.to_lowercase()) {
            continue;
        }
        let (stem, ext) = match a.name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
            _ => (a.name.clone(), String::new()),
        };
        let mut k = 2;
        while !seen.insert(format!("{stem} ({k}){ext}").to_lowercase()) {
            k += 1;
        }
        a.name = format!("{stem} ({k}){ext}");
    }
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
        None if matches!(part.body, PartType::Message(_)) => "message/rfc822".into(),
        None => "application/octet-stream".into(),
    }
}

/// The fields of a delivery-status part ("Name: value" lines, any of its groups).
fn status_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim())
            .filter(|v| !v.is_empty())
    })
}

fn report_of(message: &mail_parser::Message<'_>) -> Option<DeliveryReport> {
    let root = message.root_part();
    let ct = root.content_type()?;
    let is_report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"));
    if !is_report {
        return None;
    }
    let mut report = DeliveryReport::default();
    for part in &message.parts {
        let Some(pct) = part.content_type() else {
            continue;
        };
        let kind = (
            pct.ctype().to_ascii_lowercase(),
            pct.subtype().unwrap_or("").to_ascii_lowercase(),
        );
        match (kind.0.as_str(), kind.1.as_str()) {
            ("message", "delivery-status") | ("message", "global-delivery-status") => {
                let text = String::from_utf8_lossy(part.contents());
                report.recipient = status_field(&text, "Final-Recipient")
                    .or_else(|| status_field(&text, "Original-Recipient"))
                    .map(|v| v.rsplit(';').next().unwrap_or(v).trim().to_string());
                report.action = status_field(&text, "Action").map(str::to_lowercase);
                report.status = status_field(&text, "Status").map(String::from);
            }
            ("message", "rfc822") | ("message", "global") => {
                if let PartType::Message(original) = &part.body {
                    report.original_message_id = original.message_id().map(strip_brackets);
                }
            }
            ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                let text = String::from_utf8_lossy(part.contents());
                report.original_message_id = status_field(&text, "Message-ID").map(strip_brackets);
            }
            _ => {}
        }
    }
    Some(report)
}

impl Inbound {
    /// Parses `raw`; refuses mail over `limit` bytes and bytes that are no mail message.
    pub fn parse(raw: &[u8], limit: u64) -> Result<Inbound, MailError> {
        within(raw, limit)?;
        guarded(|| Inbound::read(raw))
    }

    fn read(raw: &[u8]) -> Result<Inbound, MailError> {
        let message = a_message(MessageParser::default().parse(raw))?;
        match charset::relabelled(&message) {
            None => Inbound::of(&message, &message, raw),
            Some(fixed) => {
                let relabelled = a_message(MessageParser::default().parse(&fixed))?;
                Inbound::of(&relabelled, &message, raw)
            }
        }
    }

    /// What `message` says; `original` is the message as it came (the same one unless its
    /// charsets were relabelled), whose attached messages are kept byte for byte.
    fn of(message: &Message<'_>, original: &Message<'_>, raw: &[u8]) -> Result<Inbound, MailError> {
        let headers: Vec<(String, String)> = message
            .headers_raw()
            .map(|(name, value)| (name.to_string(), unfold(value)))
            .collect();
        let raw_header = |name: &'static str| values(&headers, name);

        let first = |field: Option<&Address<'_>>| mailboxes(field).into_iter().next();
        let return_path = raw_header("Return-Path").next().map(strip_brackets);
        // Without a usable From, the sender is whom an answer goes to: Reply-To, then
        // Sender, then the envelope's Return-Path (as the auto-response already does).
        let from = first(message.from())
            .or_else(|| first(message.reply_to()))
            .or_else(|| first(message.sender()))
            .or_else(|| {
                return_path
                    .clone()
                    .filter(|a| a.contains('@'))
                    .map(|address| Mailbox {
                        name: None,
                        address,
                    })
            });
        let reply_to = first(message.reply_to()).or_else(|| from.clone());
        let to = mailboxes(message.to());
        let cc = mailboxes(message.cc());
        let mut recipients: Vec<String> = Vec::new();
        for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
            for value in raw_header(name) {
                recipients.extend(addresses_in(value));
            }
        }
        recipients.extend(
            mailboxes(message.resent_to())
                .into_iter()
                .map(|m| m.address),
        );
        recipients.extend(to.iter().map(|m| m.address.clone()));
        recipients.extend(cc.iter().map(|m| m.address.clone()));

        let text_parts: Vec<String> = (0..message.text_body_count())
            .filter_map(|i| message.body_text(i).map(|t| t.into_owned()))
            .collect();
        let body_html = message.html_bodies().find_map(|p| match &p.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        });
        let mut body = text_parts.join("\n");
        // An alternative whose plain part is empty (some mailers send one) reads as its HTML.
        if body.trim().is_empty()
            && let Some(html) = &body_html
        {
            body = ticketcore::faq::html_text(html);
        }
        let mut attachments = Vec::new();
        for (n, part) in message.attachments().enumerate() {
            let data = match (&part.body, original.attachment(n as u32).map(|p| &p.body)) {
                (PartType::Message(_), Some(PartType::Message(as_sent))) => {
                    as_sent.raw_message().to_vec()
                }
                (PartType::Message(nested), _) => nested.raw_message().to_vec(),
                _ => part.contents().to_vec(),
            };
            let name = part
                .attachment_name()
                .map(str::to_string)
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| fallback_name(part, n + 1));
            attachments.push(NewAttachment {
                name,
                content_type: content_type(part),
                inline: part.content_id().is_some()
                    || part
                        .content_disposition()
                        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline")),
                data,
            });
        }

        distinct(&mut attachments);
        Ok(Inbound {
            message_id: message
                .message_id()
                .map(strip_brackets)
                .filter(|id| !id.is_empty()),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            reply_to,
            return_path,
            recipients,
            to: display_list(&to),
            cc: display_list(&cc),
            subject: message.subject().unwrap_or_default().trim().to_string(),
            body,
            body_html,
            attachments,
            report: report_of(message),
            content_hash: ContentHash::of(raw).0,
            size: raw.len(),
            from,
            headers,
        })
    }

    /// The first value of a header (case-insensitive name), unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        values(&self.headers, name).next()
    }

    /// The sender's address, lower-cased, if any.
    pub fn sender_address(&self) -> Option<String> {
        self.from.as_ref().map(|m| m.address.to_lowercase())
    }

    /// What identifies this message for idempotent ingest: its Message-ID, or for mail without
    /// one an id made from its content hash.
    pub fn identity(&self) -> String {
        match &self.message_id {
            Some(id) => id.clone(),
            None => format!("{}@content-hash.ticketcore", self.content_hash),
        }
    }
}
