//! `ticketctl`: ticketcore on the command line. How a newcomer first meets the engine
//! (`ticketctl demo`), how an MTA hands mail over (`ticketctl ingest`), and how scripts and bots
//! drive a desk: queue views, agent actions, maintenance and the event log as JSON lines.
//!
//! Exit status: 0 done, 1 refused (permissions, locks, states) or failed, 2 usage error,
//! 75 store busy or unreachable (try again later), 70 an internal error; `ingest` also 65
//! (this message never), as an MTA expects.
// A command-line tool's output is its stdout.
#![allow(clippy::print_stdout)]

mod accounts;
mod act;
mod demo;
mod events;
mod faq;
mod ingest;
mod init;
mod maintenance;
mod search;
mod stats;
mod table;
mod transfer;
mod view;
mod webhooks;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use ticketcore_app::Access;
use ticketcore_app::failure::{self, Failure};

/// mimalloc rather than the system allocator: in a bulk import (`ingest --mbox`) glibc's
/// malloc and free took a third of the CPU time outside the store, and the import ran about
/// a fifth faster without them. Which allocator to use is the application's choice; the
/// library crates make none.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The desk when neither --store nor TICKETCORE_STORE names one.
const DEFAULT_STORE: &str = "redb:./ticketcore.redb";

#[derive(Debug, Parser)]
#[command(name = "ticketctl", version, about, long_about = None)]
struct Cli {
    /// The desk's store: redb:PATH, sqlite:PATH, postgres://… or mysql://…
    #[arg(
        long,
        global = true,
        env = "TICKETCORE_STORE",
        default_value = DEFAULT_STORE
    )]
    store: String,
    #[command(subcommand)]
    command: Command,
}

/// The acting agent of an agent action.
#[derive(Debug, Args)]
struct AsAgent {
    /// The agent's login.
    #[arg(long = "as", value_name = "AGENT")]
    agent: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load (or replace, keeping every ticket) the desk's configuration from a TOML file.
    Init {
        /// The configuration file (see app/demo/desk.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Take mail in: one message from stdin (for an MTA), files, a Maildir or an mbox.
    Ingest(ingest::IngestArgs),
    /// The queue view.
    List(view::ListArgs),
    /// One ticket with its articles and history.
    Show(view::ShowArgs),
    /// Full-text search, ranked, with the matching passage of each ticket.
    Search(search::SearchArgs),
    /// Rebuild every ticket's search terms and the search index from the tickets.
    Reindex,
    /// Lock a ticket (the agent becomes its owner).
    Lock {
        /// Ticket number.
        number: String,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Release a ticket's lock.
    Unlock {
        /// Ticket number.
        number: String,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Move a ticket to another queue.
    Move {
        /// Ticket number.
        number: String,
        /// Target queue, e.g. "Vorstand::Schatzmeister".
        queue: String,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Set a ticket's state.
    State {
        /// Ticket number.
        number: String,
        /// State name, e.g. "open", "closed successful", "pending reminder".
        state: String,
        /// When a pending state is due (RFC 3339, e.g. 2026-12-01T09:00:00+01:00).
        #[arg(long, value_parser = rfc3339)]
        pending_until: Option<DateTime<Utc>>,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Set a ticket's priority (1 lowest .. 5 highest).
    Priority {
        /// Ticket number.
        number: String,
        /// 1..5
        #[arg(value_parser = clap::value_parser!(u8).range(1..=5))]
        priority: u8,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Set a ticket's owner.
    Owner {
        /// Ticket number.
        number: String,
        /// The new owner's login.
        login: String,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Add a note.
    Note {
        /// Ticket number.
        number: String,
        /// The note.
        text: String,
        /// Agents to notify (repeatable).
        #[arg(long, value_name = "LOGIN")]
        notify: Vec<String>,
        /// Let the customer see it.
        #[arg(long)]
        visible_to_customer: bool,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Answer the customer by email, sent through the configured outbound transport.
    Reply {
        /// Ticket number.
        number: String,
        /// The answer (after the template's text, when one is given).
        #[arg(required_unless_present = "template")]
        text: Option<String>,
        /// A configured template for subject and body.
        #[arg(long, value_name = "NAME")]
        template: Option<String>,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Open a ticket for a customer who phoned.
    Create {
        /// Queue.
        #[arg(long)]
        queue: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Customer login (or address).
        #[arg(long)]
        customer: String,
        /// What the customer said.
        text: String,
        #[command(flatten)]
        who: AsAgent,
    },
    /// Run maintenance once: expired locks, pending reminders and auto-close, escalations,
    /// and the outbox.
    Tick {
        /// Pretend it is this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        now: Option<DateTime<Utc>>,
    },
    /// Keep running maintenance, sleeping until the next thing is due, and deliver the mail
    /// `ingest` spools for it meanwhile (an MTA's pipe then costs a process start and one
    /// synced write).
    ServeTick {
        /// Longest sleep between rounds, in seconds (new mail to send is noticed by then).
        #[arg(long, default_value_t = 5)]
        poll: u64,
    },
    /// Print the event log as JSON lines (the interface for bots).
    Events {
        /// Only events after this sequence number (a follower's cursor).
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Keep waiting for new events.
        #[arg(long)]
        follow: bool,
    },
    /// Create a small demo desk and print its queue view and demo sign-ins.
    Demo,
    /// Set the password an agent (or, with --customer, a customer) signs in with.
    Passwd {
        /// The login.
        login: String,
        /// The login is a customer's, not an agent's.
        #[arg(long)]
        customer: bool,
        /// Read the password as one line from stdin instead of asking twice on the terminal.
        #[arg(long)]
        stdin: bool,
    },
    /// API tokens for scripts and bots: create, list, revoke.
    #[command(subcommand)]
    Token(accounts::TokenCommand),
    /// The FAQ (knowledge base): add, edit, list, show, search, send as a reply.
    #[command(subcommand)]
    Faq(faq::FaqCommand),
    /// The desk's webhooks: their state (list, the default), or resume one that was paused.
    Webhooks {
        #[command(subcommand)]
        command: Option<webhooks::WebhookCommand>,
    },
    /// Desk statistics for a period: tickets per queue and state, created and closed per
    /// day, first-response and solution times, escalations, per queue and per owner.
    Stats(stats::StatsArgs),
    /// Write the whole desk (configuration, customers, tickets, articles, attachments,
    /// history) to stdout as JSON lines.
    Export {
        /// JSON lines (the only format; the flag says so in scripts).
        #[arg(long)]
        json: bool,
    },
    /// Read a desk written by `export` into this (empty) store.
    Import {
        /// The export file; stdin when absent.
        file: Option<PathBuf>,
    },
}

fn rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e} (use RFC 3339, e.g. 2026-12-01T09:00:00+01:00)"))
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let access = Access::new(&cli.store)?;
    match cli.command {
        Command::Init { config } => init::run(&access, &config).await,
        Command::Ingest(args) => ingest::run(&access, args).await,
        Command::List(args) => view::list(&access, args).await,
        Command::Show(args) => view::show(&access, args).await,
        Command::Search(args) => search::run(&access, args).await,
        Command::Reindex => search::reindex(&access).await,
        Command::Lock { number, who } => act::lock(&access, &who.agent, &number).await,
        Command::Unlock { number, who } => act::unlock(&access, &who.agent, &number).await,
        Command::Move { number, queue, who } => {
            act::move_to(&access, &who.agent, &number, &queue).await
        }
        Command::State {
            number,
            state,
            pending_until,
            who,
        } => act::state(&access, &who.agent, &number, &state, pending_until).await,
        Command::Priority {
            number,
            priority,
            who,
        } => act::priority(&access, &who.agent, &number, priority).await,
        Command::Owner { number, login, who } => {
            act::owner(&access, &who.agent, &number, &login).await
        }
        Command::Note {
            number,
            text,
            notify,
            visible_to_customer,
            who,
        } => {
            act::note(
                &access,
                &who.agent,
                &number,
                text,
                &notify,
                visible_to_customer,
            )
            .await
        }
        Command::Reply {
            number,
            text,
            template,
            who,
        } => act::reply(&access, &who.agent, &number, text, template.as_deref()).await,
        Command::Create {
            queue,
            title,
            customer,
            text,
            who,
        } => act::create(&access, &who.agent, queue, title, customer, text).await,
        Command::Tick { now } => maintenance::tick(&access, now).await,
        Command::ServeTick { poll } => maintenance::serve(&access, poll).await,
        Command::Events { since, follow } => events::run(&access, since, follow).await,
        Command::Demo => demo::run(&access).await,
        Command::Passwd {
            login,
            customer,
            stdin,
        } => accounts::passwd(&access, &login, customer, stdin).await,
        Command::Token(command) => accounts::token(&access, command).await,
        Command::Faq(command) => faq::run(&access, command).await,
        Command::Stats(args) => stats::run(&access, args).await,
        Command::Webhooks { command } => webhooks::run(&access, command).await,
        Command::Export { json: _ } => transfer::export(&access).await,
        Command::Import { file } => transfer::import(&access, file.as_deref()).await,
    }
}

/// Set when stdout's reader went away (`ticketctl list | head`): not an error.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Errors are one line, never a backtrace. A panic still unwinds, so the store is closed
/// cleanly; `main` turns it into an exit status.
fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        if message.contains("Broken pipe") {
            READER_GONE.store(true, Ordering::Relaxed);
        } else {
            eprintln!("ticketctl: internal error: {message} (please report it)");
        }
    }));
}

/// Exits with a failure's status after saying what failed.
fn failed(failure: Failure) -> u8 {
    eprintln!("ticketctl: {}", failure.message);
    failure.code
}

fn main() -> ExitCode {
    one_line_panics();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some(piped) = ingest::pipe(&args) {
        return ExitCode::from(piped.unwrap_or_else(failed));
    }
    // clap prints usage errors and exits with status 2, and --help/--version with 0.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ticketctl: cannot start the async runtime: {e}");
            return ExitCode::from(failure::FAILED);
        }
    };
    // The store is dropped inside `run`, so a redb file is closed cleanly before exit.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(run(cli))));
    let code = match ran {
        Ok(Ok(code)) => code,
        Ok(Err(failure)) => failed(failure),
        Err(_) if READER_GONE.load(Ordering::Relaxed) => 0,
        // EX_SOFTWARE: the hook has said what went wrong.
        Err(_) => 70,
    };
    drop(runtime);
    ExitCode::from(code)
}
