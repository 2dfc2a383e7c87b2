//! `ticketcore-web`: serves a desk in the browser and as a JSON API. On an empty store it
//! makes the demo desk (or loads `--config`) and prints the sign-ins.
// A server's start-up report is its stdout.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ticketcore::{Config, Desk};
use ticketcore_app::resident::{self, Voice};
use ticketcore_app::{Access, Failure, demo};
use ticketcore_web::{App, router};

/// mimalloc rather than the system allocator: under 50 concurrent clients glibc's malloc and
/// free took a fifth of the server's CPU time, and its arenas kept memory the requests had
/// freed. Which allocator to use is the application's choice; the library crates make none.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "ticketcore-web", version, about, long_about = None)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The desk's store: redb:PATH, sqlite:PATH, postgres://… or mysql://…
    #[arg(
        long,
        env = "TICKETCORE_STORE",
        default_value = "redb:./ticketcore.redb"
    )]
    store: String,
    /// The configuration for an empty store (without it, an empty store gets the demo desk).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Mark cookies Secure: the server is reached over TLS (directly or through a proxy).
    #[arg(long)]
    secure_cookies: bool,
    /// Also run the IRC bot with this configuration, in this process (on redb, where this
    /// server holds the file; elsewhere `ticketcore-irc-bot` may run on its own).
    #[arg(long, value_name = "BOT.toml")]
    irc_bot: Option<PathBuf>,
}

async fn run(args: Args) -> Result<(), Failure> {
    let access = Access::new(&args.store)?;
    let store = access.store().await?;
    // Others who find a redb file in use learn that this server holds it.
    let _holder = access.announce("ticketcore-web");
    let desk = match (store.config().await?, &args.config) {
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
            let desk = Arc::new(Desk::new(store));
            desk.configure(Config::from_toml(&text).map_err(ticketcore::Error::from)?)
                .await?;
            desk
        }
        (None, None) => {
            let (desk, made) = demo::make(store).await?;
            println!(
                "an empty store: made the demo desk ({} tickets)",
                made.created
            );
            for (login, customer, password) in demo::SIGN_INS {
                let who = if customer { "customer" } else { "agent" };
                println!("sign in as {who} {login:?} with password {password:?}");
            }
            desk
        }
        (Some(_), _) => Arc::new(Desk::new(store)),
    };
    // The desk's resident: maintenance, the outbox and the mail spool an MTA's `ticketctl
    // ingest` fills (on redb this server holds the file, so nobody else can).
    let held = desk.clone();
    let resident = tokio::spawn(async move {
        let voice = Voice {
            say: &say,
            complain: &complain,
        };
        let stop = resident::stopped();
        resident::serve(&access, Some(held), RESIDENT_POLL, stop, voice).await
    });
    if let Some(path) = &args.irc_bot {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        let bot = ticketcore_app::irc::BotConfig::from_toml(&text).map_err(Failure::usage)?;
        println!(
            "the IRC bot joins {}:{} as {}",
            bot.server, bot.port, bot.nick
        );
        let desk = desk.clone();
        tokio::spawn(async move {
            ticketcore_app::irc::run(desk, bot, resident::stopped(), &complain).await;
        });
    }
    let mut app = App::new(desk);
    app.secure_cookies = args.secure_cookies;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::failed(format!("the listening address: {e}")))?;
    println!("serving the desk at http://{address}");
    axum::serve(listener, router(app))
        .with_graceful_shutdown(resident::stopped())
        .await
        .map_err(|e| Failure::failed(format!("serving: {e}")))?;
    match resident.await {
        Ok(result) => result,
        Err(e) => Err(Failure::failed(format!("the resident stopped: {e}"))),
    }
}

/// Threads for the store's blocking reads. Tokio's default (512) let 50 concurrent clients
/// grow the pool past a hundred threads, each keeping its allocator's memory, for no gain
/// in throughput on a few cores.
pub const BLOCKING_THREADS: usize = 16;

/// The longest the resident sleeps between rounds.
const RESIDENT_POLL: std::time::Duration = std::time::Duration::from_secs(5);

fn say(line: &str) {
    println!("{line}");
}

fn complain(line: &str) {
    eprintln!("ticketcore-web: {line}");
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ticketcore-web: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("ticketcore-web: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
