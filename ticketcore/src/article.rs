//! Articles: the messages and notes of a ticket, and their attachments.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::Actor;
use crate::ticket::TicketId;

/// An article's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleId(pub Uuid);

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who wrote an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// An agent.
    Agent,
    /// The customer.
    Customer,
    /// The system (auto-responses, bounces).
    System,
}

/// How an article arrived or left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email.
    Email,
    /// Phone call, typed in by an agent.
    Phone,
    /// Note (internal or customer-visible).
    Note,
    /// Web form.
    Web,
    /// Chat.
    Chat,
}

/// A SHA-256 content hash in hex: attachments are stored once per content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(pub String);

impl ContentHash {
    /// The hash of `data`.
    pub fn of(data: &[u8]) -> ContentHash {
        ContentHash(hex(&Sha256::digest(data)))
    }
}

/// `bytes` in lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

/// An attachment as referenced from an article; the bytes live in the store by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Content hash, the key of the stored bytes.
    pub hash: ContentHash,
    /// Shown inline (e.g. an image in HTML mail).
    #[serde(default)]
    pub inline: bool,
}

/// Attachment bytes on their way into the store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// Content hash of `data`.
    pub hash: ContentHash,
    /// The bytes.
    pub data: Vec<u8>,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blob")
            .field("hash", &self.hash)
            .field("len", &self.data.len())
            .finish()
    }
}

/// A new attachment as a caller hands it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAttachment {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Shown inline.
    #[serde(default)]
    pub inline: bool,
    /// The bytes.
    pub data: Vec<u8>,
}

impl NewAttachment {
    /// Splits into the article's reference and the blob to store.
    pub fn into_parts(self) -> (Attachment, Blob) {
        let hash = ContentHash::of(&self.data);
        (
            Attachment {
                name: self.name,
                content_type: self.content_type,
                size: self.data.len() as u64,
                hash: hash.clone(),
                inline: self.inline,
            },
            Blob {
                hash,
                data: self.data,
            },
        )
    }
}

/// One message or note on a ticket. Immutable once committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Identity.
    pub id: ArticleId,
    /// The ticket it belongs to.
    pub ticket: TicketId,
    /// Who wrote it.
    pub sender: Sender,
    /// How it came or went.
    pub channel: Channel,
    /// Whether the customer may see it.
    pub visible_to_customer: bool,
    /// Who created it in the system.
    pub author: Actor,
    /// From address or name.
    pub from: String,
    /// To addresses.
    pub to: String,
    /// Cc addresses.
    pub cc: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The HTML original, when the message had one.
    pub body_html: Option<String>,
    /// Message-ID without angle brackets, unique across the store.
    pub message_id: Option<String>,
    /// In-Reply-To Message-ID.
    pub in_reply_to: Option<String>,
    /// References Message-IDs.
    pub references: Vec<String>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Creation time.
    #[serde(with = "crate::stamp")]
    pub created: DateTime<Utc>,
}

impl Article {
    /// Whether the desk wrote it to the customer by itself: an auto-response (a system
    /// article the customer sees; bounces are system articles for the agents). Search leaves
    /// these out: their words are the same template on every ticket.
    pub fn is_auto_response(&self) -> bool {
        self.sender == Sender::System && self.visible_to_customer
    }
}

/// The content of a new article as a caller provides it; the rules fill in the rest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    /// From address or name; defaults to the actor.
    pub from: String,
    /// To addresses.
    pub to: String,
    /// Cc addresses.
    pub cc: String,
    /// Subject; defaults to the ticket title.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// HTML original.
    pub body_html: Option<String>,
    /// Message-ID (without angle brackets).
    pub message_id: Option<String>,
    /// In-Reply-To.
    pub in_reply_to: Option<String>,
    /// References.
    pub references: Vec<String>,
    /// Attachments.
    pub attachments: Vec<NewAttachment>,
}

impl Message {
    /// A plain-text message.
    pub fn text(body: impl Into<String>) -> Message {
        Message {
            body: body.into(),
            ..Message::default()
        }
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Message {
        self.subject = subject.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_hash_is_the_lower_case_hex_sha256() {
        assert_eq!(
            ContentHash::of(b"abc").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
