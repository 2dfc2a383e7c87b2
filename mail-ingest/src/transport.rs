//! Where outgoing mail goes: an SMTP relay (lettre), or a Maildir for tests and for systems
//! that pick mail up from a directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use lettre::AsyncTransport;

use crate::MailError;
use crate::outbound::Outgoing;

/// Why a mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Try again later: the relay is unreachable, busy or answered 4xx.
    #[error("temporary: {0}")]
    Temporary(String),
    /// Will never work as it is: the relay refused it with 5xx.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Hands composed mail over for delivery.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends one mail.
    async fn send(&self, mail: &Outgoing) -> Result<(), SendError>;
}

/// Opens a transport by URL: `maildir:DIR` or `smtp://HOST[:PORT]` (port 25 by default).
pub fn open(url: &str) -> Result<Box<dyn Transport>, MailError> {
    if let Some(dir) = url.strip_prefix("maildir:") {
        return Ok(Box::new(Maildir::new(dir)?));
    }
    if let Some(rest) = url.strip_prefix("smtp://") {
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| MailError::Transport(format!("bad port in {url:?}")))?,
            ),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(MailError::Transport(format!("no host in {url:?}")));
        }
        return Ok(Box::new(Smtp::new(host, port)));
    }
    Err(MailError::Transport(format!(
        "unknown outbound transport {url:?}: use maildir:DIR or smtp://HOST:PORT"
    )))
}

/// Delivers into a Maildir: written under `tmp/`, then renamed into `new/`, so a reader
/// never sees half a message.
#[derive(Debug)]
pub struct Maildir {
    dir: PathBuf,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Maildir {
    /// A Maildir at `dir`, created with its `tmp`, `new` and `cur` folders if missing.
    pub fn new(dir: impl AsRef<Path>) -> Result<Maildir, MailError> {
        let dir = dir.as_ref().to_path_buf();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Maildir { dir })
    }

    /// A unique file name, as Maildir readers expect.
    fn unique() -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!(
            "{}.{}_{}.ticketcore",
            now.as_secs(),
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed) ^ u64::from(now.subsec_nanos()) << 20
        )
    }
}

#[async_trait]
impl Transport for Maildir {
    async fn send(&self, mail: &Outgoing) -> Result<(), SendError> {
        let name = Maildir::unique();
        let tmp = self.dir.join("tmp").join(&name);
        let new = self.dir.join("new").join(&name);
        let raw = mail.raw.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&raw)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &new)
        })
        .await
        .map_err(|e| SendError::Temporary(e.to_string()))?
        .map_err(|e| SendError::Temporary(format!("maildir: {e}")))
    }
}

/// Sends through an SMTP relay (no TLS: a local MTA, as OTRS usually sends).
#[derive(Debug)]
pub struct Smtp {
    relay: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
}

impl Smtp {
    /// A relay at `host:port`.
    pub fn new(host: &str, port: u16) -> Smtp {
        Smtp {
            relay: lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .timeout(Some(std::time::Duration::from_secs(30)))
                .build(),
        }
    }
}

#[async_trait]
impl Transport for Smtp {
    async fn send(&self, mail: &Outgoing) -> Result<(), SendError> {
        let parse = |a: &str| {
            a.parse::<lettre::Address>()
                .map_err(|e| SendError::Permanent(format!("address {a:?}: {e}")))
        };
        let from = match &mail.envelope_from {
            Some(a) => Some(parse(a)?),
            None => None,
        };
        let to = mail
            .recipients
            .iter()
            .map(|a| parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = lettre::address::Envelope::new(from, to)
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        match self.relay.send_raw(&envelope, &mail.raw).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }
}
