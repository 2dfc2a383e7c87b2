//! `ticketcore-irc-bot --store URL --config bot.toml`: the IRC bot as a process of its own, on
//! SQLite or a database server (on redb, where one process holds the file, run it inside the
//! web server: `ticketcore-web --irc-bot bot.toml`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ticketcore_app::Access;
use ticketcore_app::irc::{BotConfig, run};

#[derive(Debug, Parser)]
#[command(name = "ticketcore-irc-bot", version, about, long_about = None)]
struct Args {
    /// The desk's store: sqlite:PATH, postgres://… or mysql://… (redb: see the web server).
    #[arg(long, env = "TICKETCORE_STORE")]
    store: String,
    /// The bot's configuration (TOML: server, nick, channels, nicks).
    #[arg(long)]
    config: PathBuf,
}

fn complain(line: &str) {
    eprintln!("ticketcore-irc-bot: {line}");
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match std::fs::read_to_string(&args.config)
        .map_err(|e| format!("{}: {e}", args.config.display()))
        .and_then(|text| BotConfig::from_toml(&text))
    {
        Ok(config) => config,
        Err(e) => {
            complain(&e);
            return ExitCode::from(2);
        }
    };
    let desk = match Access::new(&args.store) {
        Ok(access) => match access.desk().await {
            Ok(desk) => desk,
            Err(f) => {
                complain(&f.message);
                return ExitCode::from(f.code);
            }
        },
        Err(f) => {
            complain(&f.message);
            return ExitCode::from(f.code);
        }
    };
    run(desk, config, ticketcore_app::resident::stopped(), &complain).await;
    ExitCode::SUCCESS
}
