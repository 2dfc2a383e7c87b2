//! `ticketctl faq`: the knowledge base on the command line. Agents write and change entries
//! (`--as`), and anyone reads what they may: an agent, a customer, the public (`--public`) or,
//! without either, the system.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ticketcore::faq::FaqEntry;
use ticketcore::{Actor, Desk, FaqEdit, FaqFound, FaqState, NewAttachment, NewFaq};

use crate::act::{deliver, done, target};
use crate::table;
use crate::view::agent;
use ticketcore_app::Access;
use ticketcore_app::failure::Failure;

#[derive(Debug, Subcommand)]
pub enum FaqCommand {
    /// Write a new entry; prints its number as the last word.
    Add(AddArgs),
    /// Change an entry (each option given replaces that field); a new version.
    Edit(EditArgs),
    /// The entries the reader may see, newest first.
    List {
        /// Only this category and its sub-categories.
        #[arg(long)]
        category: Option<String>,
        #[command(flatten)]
        reader: Reader,
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One entry with its text, attachments and (for agents) its versions.
    Show {
        /// The entry's number.
        number: u64,
        #[command(flatten)]
        reader: Reader,
        /// The entry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search entries: words (inflected forms count), "phrases", -word, category:,
    /// language:.
    Search {
        /// What to find.
        query: String,
        #[command(flatten)]
        reader: Reader,
        /// At most this many entries, best first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// A JSON array of {"number","title","category","state","language","snippet"}.
        #[arg(long)]
        json: bool,
    },
    /// Answer a ticket's customer with an entry (text and attachments), sent through the
    /// configured outbound transport.
    Send {
        /// The entry's number.
        entry: u64,
        /// The ticket's number.
        ticket: String,
        /// The agent who sends it.
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
}

/// Whose view of the FAQ: an agent, a customer, the public; the system when none is given.
#[derive(Debug, Args)]
pub struct Reader {
    /// What this agent may see.
    #[arg(long = "as", value_name = "AGENT", conflicts_with_all = ["customer", "public"])]
    agent: Option<String>,
    /// What this customer may see (public entries).
    #[arg(long, value_name = "LOGIN", conflicts_with = "public")]
    customer: Option<String>,
    /// What anonymous visitors see (public entries).
    #[arg(long)]
    public: bool,
}

impl Reader {
    async fn actor(&self, desk: &Desk) -> Result<Option<Actor>, Failure> {
        Ok(match (&self.agent, &self.customer, self.public) {
            (Some(login), _, _) => Some(agent(desk, login).await?),
            (None, Some(login), _) => Some(Actor::customer(login)),
            (None, None, true) => None,
            (None, None, false) => Some(Actor::System),
        })
    }
}

/// Who may see an entry, as an option.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StateArg {
    Draft,
    Internal,
    Public,
}

impl From<StateArg> for FaqState {
    fn from(s: StateArg) -> FaqState {
        match s {
            StateArg::Draft => FaqState::Draft,
            StateArg::Internal => FaqState::Internal,
            StateArg::Public => FaqState::Public,
        }
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Title (the question).
    #[arg(long)]
    title: String,
    /// Category, e.g. "Mitglieder::Beiträge".
    #[arg(long)]
    category: String,
    /// For everyone (customers and anonymous visitors too); short for --state public.
    #[arg(long, conflicts_with = "state")]
    public: bool,
    /// Who may see it (default: internal, or public with --public).
    #[arg(long, value_enum)]
    state: Option<StateArg>,
    /// Keywords, comma-separated.
    #[arg(long, value_delimiter = ',')]
    keywords: Vec<String>,
    /// Language tag.
    #[arg(long, default_value = "en")]
    language: String,
    /// TEXT is HTML (sanitized before it is stored).
    #[arg(long)]
    html: bool,
    /// Attach a file (repeatable).
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// The author.
    #[arg(long = "as", value_name = "AGENT")]
    agent: String,
    /// The answer; "-" reads it from stdin.
    text: String,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The entry's number.
    number: u64,
    /// New title.
    #[arg(long)]
    title: Option<String>,
    /// New category.
    #[arg(long)]
    category: Option<String>,
    /// New state.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
    /// New keywords, comma-separated.
    #[arg(long, value_delimiter = ',')]
    keywords: Option<Vec<String>>,
    /// New language tag.
    #[arg(long)]
    language: Option<String>,
    /// New answer; "-" reads it from stdin.
    #[arg(long)]
    text: Option<String>,
    /// The new answer is HTML.
    #[arg(long, requires = "text")]
    html: bool,
    /// Attach a file (repeatable).
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Remove an attachment by name (repeatable).
    #[arg(long, value_name = "NAME")]
    detach: Vec<String>,
    /// The editor.
    #[arg(long = "as", value_name = "AGENT")]
    agent: String,
}

pub async fn run(access: &Access, command: FaqCommand) -> Result<u8, Failure> {
    match command {
        FaqCommand::Add(args) => add(access, args).await,
        FaqCommand::Edit(args) => edit(access, args).await,
        FaqCommand::List {
            category,
            reader,
            json,
        } => {
            let desk = access.desk().await?;
            let actor = reader.actor(&desk).await?;
            let mut found = Vec::new();
            let mut after = None;
            loop {
                let page = desk
                    .faq_list(actor.as_ref(), category.as_deref(), after, 200)
                    .await?;
                found.extend(page.hits);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            print_found(&found, json, false)
        }
        FaqCommand::Show {
            number,
            reader,
            json,
        } => show(access, number, reader, json).await,
        FaqCommand::Search {
            query,
            reader,
            limit,
            json,
        } => {
            let desk = access.desk().await?;
            let actor = reader.actor(&desk).await?;
            let mut found = Vec::new();
            let mut after = None;
            while found.len() < limit {
                let page = desk
                    .faq_search(actor.as_ref(), &query, after, limit)
                    .await?;
                found.extend(page.hits);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            found.truncate(limit);
            print_found(&found, json, true)
        }
        FaqCommand::Send {
            entry,
            ticket,
            agent,
        } => {
            let (desk, actor, ticket) = target(access, &agent, &ticket).await?;
            let committed = desk.send_faq(&actor, ticket.id, entry).await?;
            let config = desk.config().await?;
            let sent = deliver(&desk, &config).await?;
            done(&committed, &format!("FAQ entry {entry} {sent}"))
        }
    }
}

/// `text`, or stdin's whole content for "-".
fn text_of(text: String) -> Result<String, Failure> {
    if text != "-" {
        return Ok(text);
    }
    let mut read = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut read)
        .map_err(|e| Failure::failed(format!("reading the answer from stdin: {e}")))?;
    Ok(read)
}

/// The files as attachments, typed by their extension.
fn attachments(paths: &[PathBuf]) -> Result<Vec<NewAttachment>, Failure> {
    paths
        .iter()
        .map(|path| {
            let data = std::fs::read(path)
                .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| Failure::usage(format!("{} names no file", path.display())))?;
            Ok(NewAttachment {
                content_type: content_type(path).into(),
                name,
                inline: false,
                data,
            })
        })
        .collect()
}

fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "odt" => "application/vnd.oasis.opendocument.text",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

async fn add(access: &Access, args: AddArgs) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = agent(&desk, &args.agent).await?;
    let text = text_of(args.text)?;
    let (text, html) = if args.html {
        (String::new(), Some(text))
    } else {
        (text, None)
    };
    let state = match (args.public, args.state) {
        (true, _) => FaqState::Public,
        (false, Some(state)) => state.into(),
        (false, None) => FaqState::Internal,
    };
    let entry = desk
        .faq_add(
            &actor,
            NewFaq {
                title: args.title,
                category: args.category,
                keywords: args.keywords,
                language: args.language,
                text,
                html,
                state,
                attachments: attachments(&args.attach)?,
            },
        )
        .await?;
    println!(
        "{} FAQ entry in {}: {}",
        entry.state, entry.category, entry.number
    );
    Ok(0)
}

async fn edit(access: &Access, args: EditArgs) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = agent(&desk, &args.agent).await?;
    let text = args.text.map(text_of).transpose()?;
    let (text, html) = match (text, args.html) {
        (Some(html), true) => (None, Some(html)),
        (text, _) => (text, None),
    };
    let before = desk.faq_entry(Some(&actor), args.number).await?;
    let entry = desk
        .faq_edit(
            &actor,
            args.number,
            FaqEdit {
                title: args.title,
                category: args.category,
                keywords: args.keywords,
                language: args.language,
                text,
                html,
                state: args.state.map(FaqState::from),
                attach: attachments(&args.attach)?,
                detach: args.detach,
            },
        )
        .await?;
    if entry.version == before.version {
        println!("FAQ entry {}: nothing to change", entry.number);
    } else {
        println!(
            "FAQ entry {} version {}: {}",
            entry.number,
            entry.version,
            entry.changes_since(&before).join("; ")
        );
    }
    Ok(0)
}

async fn show(access: &Access, number: u64, reader: Reader, json: bool) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let actor = reader.actor(&desk).await?;
    let entry = desk.faq_entry(actor.as_ref(), number).await?;
    let versions = match &actor {
        Some(a @ (Actor::Agent(_) | Actor::System)) => desk.faq_versions(a, number).await?,
        _ => Vec::new(),
    };
    if json {
        let mut value = serde_json::to_value(&entry)?;
        if let Some(object) = value.as_object_mut()
            && !versions.is_empty()
        {
            object.insert("versions".into(), serde_json::to_value(&versions)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    println!("FAQ entry {}: {}", entry.number, entry.title);
    println!(
        "category {} · {} · language {} · version {} of {} by {}",
        entry.category,
        entry.state,
        entry.language,
        entry.version,
        entry.changed.format("%Y-%m-%d %H:%M"),
        entry.changed_by
    );
    if !entry.keywords.is_empty() {
        println!("keywords: {}", entry.keywords.join(", "));
    }
    println!("\n{}\n", entry.text.trim_end());
    for a in &entry.attachments {
        println!(
            "attachment: {} ({}, {} bytes)",
            a.name, a.content_type, a.size
        );
    }
    if !versions.is_empty() {
        println!("\nhistory:");
        let mut before: Option<&FaqEntry> = None;
        for version in &versions {
            let what = match before {
                None => "created".to_string(),
                Some(old) => version.changes_since(old).join("; "),
            };
            println!(
                "  v{}  {}  {}  {what}",
                version.version,
                version.changed.format("%Y-%m-%d %H:%M"),
                version.changed_by
            );
            before = Some(version);
        }
    }
    Ok(0)
}

fn print_found(found: &[FaqFound], json: bool, snippets: bool) -> Result<u8, Failure> {
    if json {
        let rows: Vec<_> = found.iter().map(FaqFound::row).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    let terminal = std::io::stdout().is_terminal();
    let (open, close) = table::marks(terminal);
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|f| {
            let mut row = vec![
                f.entry.number.to_string(),
                f.entry.category.clone(),
                f.entry.state.to_string(),
                f.entry.title.clone(),
            ];
            if snippets {
                row.push(f.snippet.marked(open, close));
            }
            row
        })
        .collect();
    let mut header = vec!["NUMBER", "CATEGORY", "STATE", "TITLE"];
    if snippets {
        header.push("MATCH");
    }
    print!("{}", table::render(&header, &rows));
    Ok(0)
}
