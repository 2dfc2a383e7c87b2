//! The IRC bot (feature `irc-bot`): the desk in IRC channels, linking the library. [`run`] takes a [`Desk`] and a [`BotConfig`]
//! and, until stopped, announces in each configured channel what its mapped agent may see
//! (new tickets, follow-ups, escalation warnings and breaches, notes naming agents) and
//! answers agents' commands (`!ticket N`, `!queue Q`, `!search …`, `!lock N`, `!unlock N`,
//! `!note N text`, `!close N`), each acting through the Desk as the agent the nick is mapped
//! to. Each channel is a named consumer of the event log, so after a restart the bot
//! announces what it missed, once. Output is rate-limited by the IRC client (a burst of a
//! few lines, then one every couple of seconds), and a dropped connection is made again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use irc::client::prelude::{Client, Command, Config as IrcConfig, Sender};
use serde::Deserialize;
use ticketcore::{Actor, Desk, Event, EventKind, Paging, StateType, TicketQuery};

/// The longest line the bot says (IRC lines end at 512 bytes, prefix included).
const MAX_LINE: usize = 400;
/// Tickets or hits one answer lists.
const LISTED: usize = 5;

/// A channel and whose view it announces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelMap {
    /// The channel, e.g. `#support`.
    pub name: String,
    /// The agent whose permissions decide what is announced there.
    pub agent: String,
    /// Only tickets in these queues (and their sub-queues); all the agent may see when empty.
    #[serde(default)]
    pub queues: Vec<String>,
}

/// What the bot needs to know (a TOML file for `ticketcore-irc-bot` and the web server).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// The IRC server's host.
    pub server: String,
    /// Its port (plain text; 6667).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The bot's nick.
    pub nick: String,
    /// The name its cursors are kept under (one per channel).
    #[serde(default = "default_consumer")]
    pub consumer: String,
    /// Channels and whose view each announces.
    pub channels: Vec<ChannelMap>,
    /// IRC nicks and the agents they act as; any other nick may do nothing.
    #[serde(default)]
    pub nicks: BTreeMap<String, String>,
    /// Lines the bot may send at once before it slows down (flood protection).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Seconds over which the burst is counted.
    #[serde(default = "default_window")]
    pub burst_window: u32,
}

fn default_port() -> u16 {
    6667
}
fn default_consumer() -> String {
    "irc-bot".into()
}
fn default_burst() -> u32 {
    4
}
fn default_window() -> u32 {
    8
}

impl BotConfig {
    /// Reads the TOML text of a bot configuration.
    pub fn from_toml(text: &str) -> Result<BotConfig, String> {
        toml::from_str(text).map_err(|e| format!("bot configuration: {e}"))
    }
}

/// A line cut to what IRC carries, on a character boundary, one line only.
fn line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.len() <= MAX_LINE {
        return flat;
    }
    let mut end = MAX_LINE;
    while !flat.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &flat[..end])
}

/// Whether `queue` is one of `wanted` or below it (all queues when `wanted` is empty).
fn within(queue: &str, wanted: &[String]) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| ticketcore::config::within(queue, w))
}

/// What the channel is told of `event`, if anything, as `actor` sees its ticket.
async fn announcement(
    desk: &Desk,
    actor: &Actor,
    map: &ChannelMap,
    event: &Event,
) -> Option<String> {
    let what = match &event.kind {
        EventKind::NewTicket { .. } => "new".to_string(),
        EventKind::FollowUp { .. } => "follow-up".to_string(),
        EventKind::EscalationWarning { deadline, .. } => format!("escalates soon ({deadline:?})"),
        EventKind::Escalation { deadline, .. } => format!("ESCALATED ({deadline:?})"),
        EventKind::AddNote { notify, .. } if !notify.is_empty() => {
            format!("note for {} by {}", notify.join(", "), event.actor)
        }
        _ => return None,
    };
    let ticket = desk.ticket(actor, event.ticket).await.ok()?;
    within(&ticket.queue, &map.queues).then(|| {
        line(&format!(
            "[{what}] {} {} ({}, {})",
            ticket.number, ticket.title, ticket.queue, ticket.state
        ))
    })
}

/// One channel's announcer: from its cursor, every event its agent may see, saved as told.
async fn announce(
    desk: Arc<Desk>,
    sender: Sender,
    map: ChannelMap,
    consumer: String,
) -> Result<(), String> {
    let actor = Actor::agent(&map.agent);
    let name = format!("{consumer}:{}", map.name);
    // A channel new to the bot starts at the live end, not with the desk's whole history.
    let mut after = desk
        .cursor(&actor, &name)
        .await
        .map_err(|e| e.to_string())?;
    if after == 0 {
        after = desk.last_seq().await.map_err(|e| e.to_string())?;
        desk.save_cursor(&actor, &name, after)
            .await
            .map_err(|e| e.to_string())?;
    }
    let events = desk.follow(actor.clone(), after);
    tokio::pin!(events);
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| e.to_string())?;
        if let Some(text) = announcement(&desk, &actor, &map, &event).await {
            sender
                .send_privmsg(&map.name, text)
                .map_err(|e| e.to_string())?;
        }
        desk.save_cursor(&actor, &name, event.seq)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The one-line answer to a command `text` from `nick`, if it is one.
pub async fn answer(desk: &Desk, config: &BotConfig, nick: &str, text: &str) -> Option<String> {
    let text = text.trim();
    let (command, rest) = text
        .strip_prefix('!')?
        .split_once(' ')
        .unwrap_or((text.strip_prefix('!')?, ""));
    let known = [
        "ticket", "queue", "search", "lock", "unlock", "note", "close",
    ];
    if !known.contains(&command) {
        return None;
    }
    let Some(login) = config.nicks.get(nick) else {
        return Some(line(&format!(
            "{nick}: you are not mapped to an agent; ask the desk's admin"
        )));
    };
    let actor = Actor::agent(login);
    let rest = rest.trim();
    let result = run_command(desk, &actor, command, rest).await;
    Some(line(&match result {
        Ok(said) => format!("{nick}: {said}"),
        Err(e) => format!("{nick}: !{command} refused: {e}"),
    }))
}

async fn run_command(
    desk: &Desk,
    actor: &Actor,
    command: &str,
    rest: &str,
) -> Result<String, ticketcore::Error> {
    let (number, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let summary = |t: &ticketcore::Ticket| {
        let lock = t
            .lock
            .holder()
            .map(|h| format!(", locked by {h}"))
            .unwrap_or_default();
        format!("{} {} ({}, {}{lock})", t.number, t.title, t.queue, t.state)
    };
    Ok(match command {
        "ticket" => summary(&desk.find(actor, number).await?),
        "queue" => {
            let query = TicketQuery {
                queues: Some([rest.to_string()].into()),
                state_types: Some(
                    StateType::ALL
                        .into_iter()
                        .filter(|t| !t.is_closed())
                        .collect(),
                ),
                limit: LISTED,
                ..TicketQuery::default()
            };
            let page = desk.queue_view(actor, query).await?;
            let list: Vec<String> = page
                .tickets
                .iter()
                .map(|t| format!("{} {}", t.number, t.title))
                .collect();
            match list.is_empty() {
                true => format!("nothing open in {rest} that you may see"),
                false => list.join(" | "),
            }
        }
        "search" => {
            let found = desk
                .search(
                    actor,
                    rest,
                    Paging {
                        after: None,
                        limit: LISTED,
                    },
                )
                .await?;
            let list: Vec<String> = found
                .hits
                .iter()
                .map(|h| format!("{} {}", h.ticket.number, h.ticket.title))
                .collect();
            match list.is_empty() {
                true => "nothing found".into(),
                false => list.join(" | "),
            }
        }
        "lock" => summary(
            &desk
                .lock(actor, desk.find(actor, number).await?.id)
                .await?
                .ticket,
        ),
        "unlock" => summary(
            &desk
                .unlock(actor, desk.find(actor, number).await?.id)
                .await?
                .ticket,
        ),
        "note" if text.trim().is_empty() => {
            return Err(ticketcore::Error::Invalid("!note NUMBER TEXT".into()));
        }
        "note" => {
            let id = desk.find(actor, number).await?.id;
            desk.note(
                actor,
                id,
                ticketcore::Message::text(text.trim()),
                false,
                &[],
            )
            .await?;
            format!("note added to {number}")
        }
        _ => {
            let id = desk.find(actor, number).await?.id;
            summary(
                &desk
                    .set_state(actor, id, "closed successful", None)
                    .await?
                    .ticket,
            )
        }
    })
}

/// One connection: join, announce and answer until the server drops it or `stop` comes.
async fn session(desk: &Arc<Desk>, config: &BotConfig) -> Result<(), String> {
    let irc = IrcConfig {
        nickname: Some(config.nick.clone()),
        username: Some(config.nick.clone()),
        realname: Some("ticketcore desk".into()),
        server: Some(config.server.clone()),
        port: Some(config.port),
        channels: config.channels.iter().map(|c| c.name.clone()).collect(),
        burst_window_length: Some(config.burst_window),
        max_messages_in_burst: Some(config.burst),
        ping_time: Some(60),
        ping_timeout: Some(30),
        ..IrcConfig::default()
    };
    let mut client = Client::from_config(irc).await.map_err(|e| e.to_string())?;
    client.identify().map_err(|e| e.to_string())?;
    let mut stream = client.stream().map_err(|e| e.to_string())?;
    let sender = client.sender();
    let mut announcers = tokio::task::JoinSet::new();
    let result = async {
        while let Some(message) = stream.next().await {
            let message = message.map_err(|e| e.to_string())?;
            let from = message.source_nickname().unwrap_or_default().to_string();
            match &message.command {
                // Joined: announce there from now on (a channel takes no lines before).
                Command::JOIN(channel, ..) if from == client.current_nickname() => {
                    if let Some(map) = config
                        .channels
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(channel))
                    {
                        announcers.spawn(announce(
                            desk.clone(),
                            sender.clone(),
                            map.clone(),
                            config.consumer.clone(),
                        ));
                    }
                }
                Command::PRIVMSG(target, text) => {
                    let reply_to = if target.starts_with('#') {
                        target.clone()
                    } else {
                        from.clone()
                    };
                    if let Some(said) = answer(desk, config, &from, text).await {
                        sender
                            .send_privmsg(reply_to, said)
                            .map_err(|e| e.to_string())?;
                    }
                }
                _ => {}
            }
            if let Some(Ok(Err(e))) = announcers.try_join_next() {
                return Err(e);
            }
        }
        Err::<(), String>("the server closed the connection".into())
    }
    .await;
    announcers.abort_all();
    result
}

/// Runs the bot for `desk` until `stop` resolves: connects, and connects again (waiting up
/// to a minute, longer after each failure in a row) whenever the connection ends.
/// `complain` hears why a connection ended.
pub async fn run(
    desk: Arc<Desk>,
    config: BotConfig,
    stop: impl std::future::Future<Output = ()>,
    complain: &(dyn Fn(&str) + Send + Sync),
) {
    tokio::pin!(stop);
    let mut wait = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        tokio::select! {
            ended = session(&desk, &config) => {
                if let Err(why) = ended {
                    complain(&format!("irc {}:{}: {why}; connecting again in {wait:?}", config.server, config.port));
                }
            }
            () = &mut stop => return,
        }
        // A session that lasted resets the wait; one that failed at once doubles it.
        wait = match started.elapsed() > Duration::from_secs(60) {
            true => Duration::from_secs(1),
            false => (wait * 2).min(Duration::from_secs(60)),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_fit_irc() {
        assert_eq!(line("a\r\nPRIVMSG #x :owned"), "a  PRIVMSG #x :owned");
        let long = "ä".repeat(500);
        let cut = line(&long);
        assert!(cut.len() <= MAX_LINE + 3 && cut.ends_with('…'));
        assert!(within("Allgemein::Drucker", &["Allgemein".into()]));
        assert!(!within("Allgemeiner", &["Allgemein".into()]));
        assert!(within("X", &[]));
    }

    #[test]
    fn configuration_reads() {
        let config = BotConfig::from_toml(
            "server = \"127.0.0.1\"\nnick = \"desk\"\n[[channels]]\nname = \"#s\"\nagent = \"anna\"\n[nicks]\nanna_irc = \"anna\"\n",
        )
        .unwrap();
        assert_eq!(
            (config.port, config.consumer.as_str(), config.burst),
            (6667, "irc-bot", 4)
        );
        assert!(BotConfig::from_toml("server = 1").is_err());
    }
}
