//! `ticketctl passwd` and `ticketctl token`: sign-in passwords and API tokens, set by whoever
//! holds the store (the system actor). The desk keeps only hashes; a token is printed once.

use std::io::{BufRead, IsTerminal};

use chrono::Utc;
use clap::{Args, Subcommand};
use serde_json::json;
use ticketcore::Actor;
use ticketcore_app::{Access, Failure};

use crate::table::render;

/// Whose account: an agent's login, or a customer's with `--customer`.
#[derive(Debug, Args)]
pub struct Holder {
    /// The account's login.
    #[arg(long = "as", value_name = "LOGIN")]
    login: String,
    /// The login is a customer's, not an agent's.
    #[arg(long)]
    customer: bool,
}

impl Holder {
    fn actor(&self) -> Actor {
        holder(&self.login, self.customer)
    }
}

fn holder(login: &str, customer: bool) -> Actor {
    if customer {
        Actor::customer(login)
    } else {
        Actor::agent(login)
    }
}

/// `ticketctl token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an API token; it is printed once, as the last line.
    Create {
        #[command(flatten)]
        holder: Holder,
        /// What it is for, e.g. "irc-bot" (unique per account).
        #[arg(long)]
        name: String,
        /// How long it works, e.g. 90d or 12h (default: until revoked).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List an account's tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        holder: Holder,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name: it stops working at once.
    Revoke {
        #[command(flatten)]
        holder: Holder,
        /// The token's name.
        name: String,
    },
}

/// Reads the new password: twice without echo on a terminal, one line with `--stdin`.
fn new_password(stdin: bool) -> Result<String, Failure> {
    if stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "stdin is not a terminal: pass --stdin to read the password from it",
        ));
    }
    let first = rpassword::prompt_password("New password: ")?;
    let again = rpassword::prompt_password("Again: ")?;
    if first != again {
        return Err(Failure::failed("the passwords differ; nothing was changed"));
    }
    Ok(first)
}

pub async fn passwd(
    access: &Access,
    login: &str,
    customer: bool,
    stdin: bool,
) -> Result<u8, Failure> {
    let password = new_password(stdin)?;
    let desk = access.desk().await?;
    let of = holder(login, customer);
    desk.set_password(&Actor::System, &of, &password).await?;
    println!("password set for {of}");
    Ok(0)
}

pub async fn token(access: &Access, command: TokenCommand) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let system = &Actor::System;
    match command {
        TokenCommand::Create {
            holder,
            name,
            expires,
        } => {
            let expires = expires
                .map(|d| {
                    chrono::Duration::from_std(d)
                        .ok()
                        .and_then(|d| desk.now().checked_add_signed(d))
                        .ok_or_else(|| Failure::usage("--expires is too far in the future"))
                })
                .transpose()?;
            let token = desk
                .create_token(system, &holder.actor(), &name, expires)
                .await?;
            let until = expires.map_or("until revoked".to_string(), |at| {
                format!("until {}", at.to_rfc3339())
            });
            println!(
                "API token {name:?} for {}, valid {until}; shown only now:",
                holder.actor()
            );
            println!("{token}");
        }
        TokenCommand::List { holder, json } => {
            let tokens = desk.tokens(system, &holder.actor()).await?;
            let now = Utc::now();
            if json {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        json!({
                            "name": t.name,
                            "created": t.created,
                            "last_used": t.last_used,
                            "expires": t.expires,
                            "expired": t.expired(now),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let stamp = |t: Option<chrono::DateTime<Utc>>| {
                    t.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
                };
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        let expires = match t.expires {
                            Some(at) if t.expired(now) => format!("{} (expired)", stamp(Some(at))),
                            at => stamp(at),
                        };
                        vec![
                            t.name.clone(),
                            stamp(Some(t.created)),
                            stamp(t.last_used),
                            expires,
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    render(&["NAME", "CREATED", "LAST USED", "EXPIRES"], &rows)
                );
            }
        }
        TokenCommand::Revoke { holder, name } => {
            desk.revoke_token(system, &holder.actor(), &name).await?;
            println!("revoked API token {name:?} of {}", holder.actor());
        }
    }
    Ok(0)
}
