//! `ticketctl ingest`: mail in. One message on stdin is the MTA's pipe (exit status as
//! sysexits says), handed to the spool while serve-tick attends the desk (see `spool`);
//! files, a Maildir or an mbox are bulk.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use ticketcore_mail::inbound;
use ticketcore_mail::source::{self, Handled, Maildir, Mbox};
use ticketcore_mail::{Delivery, MailError, Postmaster};

use ticketcore_app::Access;
use ticketcore_app::failure::{DATA, Failure, TEMPORARY};
use ticketcore_app::spool::{Limits, Spool};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Print one JSON line per message: {"source", "outcome" (created, follow_up, rejected,
    /// ignored, duplicate; "failed" when nothing was stored and a retry may work), "ticket",
    /// "queue", "reason", "auto_response"}.
    #[arg(long)]
    json: bool,
    /// Deliver every message in this Maildir's new/ (each moves to cur/ once committed).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["files", "mbox"])]
    maildir: Option<PathBuf>,
    /// Import every message of this mbox file (idempotent: a rerun skips what is in).
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    mbox: Option<PathBuf>,
    /// Message files; without any, one message is read from stdin.
    files: Vec<PathBuf>,
}

pub async fn run(access: &Access, args: IngestArgs) -> Result<u8, Failure> {
    // Read stdin before opening the store: a redb file is held only for the commit.
    let stdin = if args.files.is_empty() && args.maildir.is_none() && args.mbox.is_none() {
        let mut raw = Vec::new();
        std::io::stdin().read_to_end(&mut raw)?;
        Some(raw)
    } else {
        None
    };
    if let Some(raw) = &stdin
        && !args.json
        && let Some(spool) = Spool::of(access)
        && let Some(limits) = spool.attended()
    {
        return spooled(&spool, limits, raw);
    }
    // Every file is read before anything is delivered: a typo in a name fails the command
    // before it has half happened.
    let files = args
        .files
        .iter()
        .map(|f| {
            std::fs::read(f)
                .map_err(|e| Failure::failed(format!("cannot read {}: {e}", f.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let desk = if stdin.is_some() || args.files.len() == 1 {
        access.desk().await?
    } else {
        without_huge_pages();
        access.bulk_desk().await?
    };
    let postmaster = Arc::new(Postmaster::new(desk));
    let mut report = Report::new(args.json);
    if let Some(raw) = stdin {
        let result = postmaster.deliver(&raw).await;
        report.add(&Handled {
            source: "stdin".into(),
            result,
        });
    } else if let Some(dir) = &args.maildir {
        let maildir = Maildir::open(dir)
            .map_err(|e| Failure::failed(format!("cannot read {}: {e}", dir.display())))?;
        let bar = progress(
            maildir.len() as u64,
            "{bar:40} {pos}/{len} messages, {per_sec}, {eta} left",
        );
        source::deliver_maildir(postmaster, maildir, source::IN_FLIGHT, |h| {
            bar.suspend(|| report.add(&h));
            bar.inc(1);
        })
        .await?;
        bar.finish_and_clear();
    } else if let Some(file) = &args.mbox {
        // Read as it is delivered: the bar follows the bytes, as the count is known only at
        // the end.
        let (mbox, size) = Mbox::open(file)
            .map_err(|e| Failure::failed(format!("cannot read {}: {e}", file.display())))?;
        let read = mbox.bytes_read();
        let bar = progress(
            size,
            "{bar:40} {bytes}/{total_bytes}, {msg} messages, {bytes_per_sec}, {eta} left",
        );
        let mut count: u64 = 0;
        source::deliver_mbox(postmaster, mbox, source::IN_FLIGHT, |h| {
            bar.suspend(|| report.add(&h));
            count += 1;
            bar.set_message(count.to_string());
            bar.set_position(read.load(Ordering::Relaxed));
        })
        .await?;
        bar.finish_and_clear();
    } else {
        for (file, raw) in args.files.iter().zip(files) {
            let result = postmaster.deliver(&raw).await;
            report.add(&Handled {
                source: file.display().to_string(),
                result,
            });
        }
    }
    Ok(report.code)
}

/// The MTA's pipe while serve-tick attends the desk: `ticketctl [--store URL] ingest`, told
/// apart before the full command line is built and without an async runtime, because a
/// spooled delivery is little more than a process start and every page that start touches
/// counts. None (stdin untouched) for anything else, which takes the ordinary way.
pub fn pipe(args: &[std::ffi::OsString]) -> Option<Result<u8, Failure>> {
    let url = match args {
        [ingest] if ingest == "ingest" => match std::env::var_os("TICKETCORE_STORE") {
            Some(url) => url.into_string().ok()?,
            None => crate::DEFAULT_STORE.to_string(),
        },
        [flag, url, ingest] if flag == "--store" && ingest == "ingest" => url.to_str()?.to_string(),
        _ => return None,
    };
    without_huge_pages();
    let spool = Spool::of(&Access::new(&url).ok()?)?;
    let limits = spool.attended()?;
    let mut raw = Vec::new();
    Some(match std::io::stdin().read_to_end(&mut raw) {
        Ok(_) => spooled(&spool, limits, &raw),
        Err(e) => Err(Failure {
            message: format!("stdin: {e}"),
            code: TEMPORARY,
        }),
    })
}

/// No transparent huge pages, which mimalloc asks for. For one message per process, clearing
/// a 2 MiB page on its first touch cost 2 ms of a 4 ms start. For a bulk import, a huge page
/// stays resident as long as any of it is used: a million-message mbox into redb peaked at
/// 211 MiB with them and 157 MiB without, at the same rate (26.5k and 27.3k messages/s).
fn without_huge_pages() {
    // Refused only by kernels without huge pages or this prctl: nothing to turn off then.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// Hands the message on stdin to the spool's attendant: checked as the desk would check it
/// (the sender hears of mail that can never be taken in), written durably, then rung for.
fn spooled(spool: &Spool, limits: Limits, raw: &[u8]) -> Result<u8, Failure> {
    if let Err(e) = inbound::admissible(raw, limits.max_message_size) {
        return Err(Failure {
            message: format!("stdin: {e}"),
            code: DATA,
        });
    }
    let place = spool.drop_off(raw).map_err(|e| Failure {
        message: format!("stdin: cannot spool into {}: {e}", spool.dir().display()),
        code: TEMPORARY,
    })?;
    spool.ring();
    println!("stdin: spooled for serve-tick ({})", place.display());
    Ok(0)
}

/// A progress bar on stderr (hidden when it is no terminal).
fn progress(len: u64, template: &str) -> ProgressBar {
    ProgressBar::new(len).with_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

/// Prints each message's fate and keeps the exit status: the worst one wins, a temporary
/// failure over a permanent one (the MTA must keep what can still be taken in).
struct Report {
    json: bool,
    code: u8,
}

impl Report {
    fn new(json: bool) -> Report {
        Report { json, code: 0 }
    }

    fn add(&mut self, handled: &Handled) {
        let code = source::exit_code(&handled.result) as u8;
        if code == TEMPORARY || (code == DATA && self.code == 0) {
            self.code = code;
        }
        if self.json {
            println!("{}", line(&handled.source, &handled.result));
            return;
        }
        match &handled.result {
            Ok(d) => println!("{}: {}", handled.source, describe(d)),
            Err(e) => eprintln!("ticketctl: {}: {e}", handled.source),
        }
    }
}

/// The `--json` line of one message.
fn line(source: &str, result: &Result<Delivery, MailError>) -> serde_json::Value {
    match result {
        Ok(d) => json!({
            "source": source,
            "outcome": d.outcome,
            "ticket": d.ticket,
            "queue": d.queue,
            "reason": d.reason,
            "auto_response": d.auto_response,
        }),
        Err(e) => json!({
            "source": source,
            "outcome": if e.is_temporary() { "failed" } else { "rejected" },
            "ticket": null,
            "queue": null,
            "reason": e.to_string(),
            "auto_response": false,
        }),
    }
}

fn describe(d: &Delivery) -> String {
    let outcome = serde_json::to_value(d.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
        .replace('_', "-");
    let mut text = outcome;
    if let (Some(ticket), Some(queue)) = (&d.ticket, &d.queue) {
        text.push_str(&format!(" {ticket} in {queue}"));
    }
    if let Some(reason) = &d.reason {
        text.push_str(&format!(" ({reason})"));
    }
    if d.auto_response {
        text.push_str(", auto-response queued");
    }
    text
}
