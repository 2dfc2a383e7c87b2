//! Webhooks: the desk's events posted to receivers over HTTP, signed as the Standard Webhooks
//! specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
//! HMAC-SHA256 of "id.timestamp.body">`, secrets written `whsec_…`), so a receiver can check
//! them with that specification's published verifiers.
//!
//! Each `[[webhooks]]` entry of the configuration is a named consumer of the event log
//! (`webhook:NAME`, as the system): its cursor moves past an event only once the receiver
//! answered 2xx, so every event arrives at least once and in log order (so in order per
//! ticket), also after a restart. A failed post is retried with exponential backoff and
//! jitter; after [`MAX_FAILURES`] failures in a row the hook is paused and reported
//! (`ticketctl webhooks` lists it; `ticketctl webhooks resume NAME` goes on); a 410 Gone
//! disables it. Its state is a small document the store keeps beside the cursor.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use ticketcore::config::Webhook;
use ticketcore::{Actor, Desk, Event};
use ticketcore_mail::template::Variables;

use crate::failure::Failure;

/// Failed posts in a row after which a hook is paused.
pub const MAX_FAILURES: u32 = 8;
/// The first retry's delay; each further failure doubles it, up to [`LONGEST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest delay between two attempts.
const LONGEST_BACKOFF: Duration = Duration::from_secs(600);
/// Events one round reads per hook.
const BATCH: usize = 100;
/// How long a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the store keeps of a hook between rounds and restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookState {
    /// Failed posts in a row.
    pub failures: u32,
    /// No attempt before then (backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    /// Paused after too many failures; `ticketctl webhooks resume` goes on.
    #[serde(default)]
    pub paused: bool,
    /// The receiver answered 410 Gone: it wants no more.
    #[serde(default)]
    pub disabled: bool,
    /// What went wrong last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Events delivered so far.
    #[serde(default)]
    pub delivered: u64,
}

/// A hook as `ticketctl webhooks` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct HookStatus {
    /// Its name.
    pub name: String,
    /// Where it posts.
    pub url: String,
    /// The last event it has delivered (or passed over).
    pub cursor: u64,
    /// Its state.
    pub state: HookState,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebhookReport {
    /// Events posted and acknowledged.
    pub delivered: usize,
    /// Posts that failed (to be retried).
    pub failed: usize,
    /// Lines worth telling an operator (a hook paused or disabled).
    pub notices: Vec<String>,
}

/// The consumer name of hook `name`.
fn consumer(name: &str) -> String {
    format!("webhook:{name}")
}

/// The signature of one message, as the `webhook-signature` header carries it.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The delay before attempt `failures + 1`, with up to a quarter of it as random jitter so
/// receivers that failed together are not retried together.
fn backoff(failures: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(16));
    let base = doubled.min(LONGEST_BACKOFF);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    base + base.mul_f64((random % 1000) as f64 / 4000.0)
}

/// Posts the desk's events to its `[[webhooks]]`.
#[derive(Debug, Clone)]
pub struct Webhooks {
    desk: Arc<Desk>,
    client: reqwest::Client,
}

impl Webhooks {
    /// A sender for `desk`'s hooks (the HTTP client is made once per process).
    pub fn new(desk: Arc<Desk>) -> Result<Webhooks, Failure> {
        static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
            std::sync::OnceLock::new();
        let client = CLIENT.get_or_init(|| {
            // reqwest is built without a TLS provider of its own; ring is the one this uses
            // (its constructor is deprecated for lacking post-quantum key exchange, which
            // aws-lc-rs has at the price of a C toolchain with cmake in every build).
            #[allow(deprecated)]
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .user_agent(concat!("ticketcore-webhooks/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("webhooks: no HTTP client: {e}"))
        });
        let client = client.clone().map_err(Failure::failed)?;
        Ok(Webhooks { desk, client })
    }

    async fn state(&self, name: &str) -> Result<HookState, Failure> {
        let saved = self
            .desk
            .consumer_state(&Actor::System, &consumer(name))
            .await?;
        Ok(saved
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default())
    }

    async fn save(&self, name: &str, state: &HookState) -> Result<(), Failure> {
        let bytes = serde_json::to_vec(state)?;
        self.desk
            .save_consumer_state(&Actor::System, &consumer(name), &bytes)
            .await?;
        Ok(())
    }

    /// Every configured hook with its cursor and state.
    pub async fn statuses(&self) -> Result<Vec<HookStatus>, Failure> {
        let config = self.desk.config().await?;
        let mut out = Vec::new();
        for hook in &config.webhooks {
            out.push(HookStatus {
                name: hook.name.clone(),
                url: hook.url.clone(),
                cursor: self
                    .desk
                    .cursor(&Actor::System, &consumer(&hook.name))
                    .await?,
                state: self.state(&hook.name).await?,
            });
        }
        Ok(out)
    }

    /// Un-pauses (or re-enables) hook `name`: the next round tries again at once.
    pub async fn resume(&self, name: &str) -> Result<(), Failure> {
        let config = self.desk.config().await?;
        if !config.webhooks.iter().any(|h| h.name == name) {
            return Err(Failure::failed(format!(
                "no webhook {name:?} in the configuration"
            )));
        }
        let mut state = self.state(name).await?;
        state.paused = false;
        state.disabled = false;
        state.failures = 0;
        state.retry_at = None;
        self.save(name, &state).await
    }

    /// One round: each hook that is due posts what it has not delivered yet, in order,
    /// until the receiver refuses one.
    pub async fn round(&self) -> Result<WebhookReport, Failure> {
        let config = self.desk.config().await?;
        let mut report = WebhookReport::default();
        for hook in &config.webhooks {
            self.deliver(&config, hook, &mut report).await?;
        }
        Ok(report)
    }

    async fn deliver(
        &self,
        config: &ticketcore::Config,
        hook: &Webhook,
        report: &mut WebhookReport,
    ) -> Result<(), Failure> {
        let mut state = self.state(&hook.name).await?;
        let now = self.desk.now();
        if state.paused || state.disabled || state.retry_at.is_some_and(|at| at > now) {
            return Ok(());
        }
        let Some(key) = hook.key() else {
            return Ok(()); // the configuration check refuses such a secret
        };
        let name = consumer(&hook.name);
        let cursor = self.desk.cursor(&Actor::System, &name).await?;
        let page = self
            .desk
            .events_since(&Actor::System, cursor, BATCH)
            .await?;
        let mut done = cursor;
        for event in &page.events {
            let queue = match event.visible_in.as_str() {
                "" => self
                    .desk
                    .ticket(&Actor::System, event.ticket)
                    .await
                    .map(|t| t.queue)
                    .unwrap_or_default(),
                q => q.to_string(),
            };
            if hook.wants(event.kind.history_type(), &queue) {
                let body = self.payload(config, hook, event).await?;
                match self.post(hook, &key, event, &body).await {
                    Ok(()) => {
                        state.delivered += 1;
                        state.failures = 0;
                        state.last_error = None;
                        report.delivered += 1;
                    }
                    Err(Refusal::Gone(why)) => {
                        state.disabled = true;
                        state.last_error = Some(why.clone());
                        let notice = format!(
                            "webhook {}: the receiver answered 410 Gone; disabled ({why})",
                            hook.name
                        );
                        tracing::warn!("{notice}");
                        report.notices.push(notice);
                        break;
                    }
                    Err(Refusal::Failed(why)) => {
                        state.failures += 1;
                        state.last_error = Some(why.clone());
                        report.failed += 1;
                        if state.failures >= MAX_FAILURES {
                            state.paused = true;
                            let notice = format!(
                                "webhook {}: {} failures in a row, paused (last: {why}); \
                                 `ticketctl webhooks resume {}` goes on",
                                hook.name, state.failures, hook.name
                            );
                            tracing::warn!("{notice}");
                            report.notices.push(notice);
                        } else {
                            let wait = chrono::Duration::from_std(backoff(state.failures))
                                .unwrap_or_else(|_| chrono::Duration::minutes(10));
                            state.retry_at = Some(now + wait);
                        }
                        break;
                    }
                }
            }
            done = event.seq;
        }
        if page.events.is_empty() || done == page.events.last().map_or(done, |e| e.seq) {
            // Every event read was delivered or not for this hook: past the page, also past
            // events the system's view does not list.
            done = done.max(page.cursor);
        }
        if state.failures == 0 {
            state.retry_at = None;
        }
        if done != cursor {
            self.desk.save_cursor(&Actor::System, &name, done).await?;
        }
        self.save(&hook.name, &state).await
    }

    /// The body posted for `event`: the event as Standard Webhooks' `{type, timestamp, data}`,
    /// or `{"text": …}` from the hook's template.
    async fn payload(
        &self,
        config: &ticketcore::Config,
        hook: &Webhook,
        event: &Event,
    ) -> Result<String, Failure> {
        let Some(template) = &hook.template else {
            let body = json!({
                "type": format!("ticket.{}", event.kind.history_type()),
                "timestamp": event.at.to_rfc3339(),
                "data": event,
            });
            return Ok(body.to_string());
        };
        let ticket = self.desk.ticket(&Actor::System, event.ticket).await?;
        let customer = ticket.customer.clone().unwrap_or_default();
        let text = Variables::of(config, &ticket, &customer, "")
            .with("event", event.kind.history_type())
            .with("actor", event.actor.to_string())
            .render(template);
        Ok(json!({ "text": text }).to_string())
    }

    async fn post(
        &self,
        hook: &Webhook,
        key: &[u8],
        event: &Event,
        body: &str,
    ) -> Result<(), Refusal> {
        let id = format!("evt_{}", event.seq);
        let timestamp = self.desk.now().timestamp();
        let signature = signature(key, &id, timestamp, body)
            .ok_or_else(|| Refusal::Failed("the secret is no signing key".into()))?;
        let answer = self
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Refusal::Failed(format!("{e}")))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else if status == reqwest::StatusCode::GONE {
            Err(Refusal::Gone(format!("HTTP {status}")))
        } else {
            Err(Refusal::Failed(format!("HTTP {status}")))
        }
    }
}

/// Why a post did not count.
enum Refusal {
    /// Try again later.
    Failed(String),
    /// 410: stop for good.
    Gone(String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signatures_match_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn backoff_grows_to_a_bound_with_jitter() {
        assert!(backoff(1) >= FIRST_BACKOFF && backoff(1) <= FIRST_BACKOFF * 5 / 4);
        assert!(backoff(3) >= FIRST_BACKOFF * 4);
        assert!(backoff(40) <= LONGEST_BACKOFF * 5 / 4);
    }
}
