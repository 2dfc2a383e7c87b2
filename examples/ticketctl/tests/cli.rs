//! ticketctl as scripts, bots and MTAs use it: the real binary, every subcommand, on redb and
//! on SQLite, refusals and usage errors included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The commented example configuration shipped with ticketctl.
const EXAMPLE: &str = include_str!("../../../app/demo/desk.toml");

#[derive(Debug, Clone, Copy)]
enum Kind {
    Redb,
    Sqlite,
}

const KINDS: [Kind; 2] = [Kind::Redb, Kind::Sqlite];

/// A desk in a temporary directory, driven through the binary.
struct Desk {
    dir: TempDir,
    store: String,
}

fn store_url(kind: Kind, dir: &Path, name: &str) -> String {
    match kind {
        Kind::Redb => format!("redb:{}", dir.join(format!("{name}.redb")).display()),
        Kind::Sqlite => format!("sqlite:{}", dir.join(format!("{name}.db")).display()),
    }
}

/// The example desk, with a second support agent and a 1 MB mail limit.
fn test_config() -> String {
    EXAMPLE.replace("max_message_size = \"20MB\"", "max_message_size = \"1MB\"")
        + "\n[[agents]]\nlogin = \"carl\"\nname = \"Carl Colleague\"\nemail = \"carl@example.org\"\ngroups = { support = [\"rw\"] }\n"
}

fn mail(from: &str, to: &str, subject: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Thu, 26 Nov 2026 09:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         {body}\r\n"
    )
}

fn request(id: &str, subject: &str) -> String {
    mail(
        "Karla Kunde <karla@example.com>",
        "info@example.org",
        subject,
        id,
        "It smokes.",
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Desk {
    /// An empty store with the test configuration loaded.
    fn new(kind: Kind) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let store = store_url(kind, dir.path(), "desk");
        let desk = Desk { dir, store };
        std::fs::write(desk.path("desk.toml"), test_config()).unwrap();
        let out = desk.ok(&["init", "--config", "desk.toml"]);
        assert!(out.contains("configuration version 1"), "{out}");
        desk
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketctl"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("TICKETCORE_STORE", &self.store)
            .env_remove("RUST_BACKTRACE");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?} failed with {:?}: {}",
            o.status.code(),
            stderr(&o)
        );
        stdout(&o)
    }

    /// Runs a command that must fail with `code` and one line on stderr; that line.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        if code != 2 {
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(
                !err.contains("panicked") && !err.contains("backtrace"),
                "{err}"
            );
        }
        err
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Runs a command with `input` on its stdin.
    fn feed(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Pipes one message into `ingest --json`; the exit status and the JSON line.
    fn pipe(&self, raw: &[u8]) -> (i32, Value) {
        let o = self.feed(&["ingest", "--json"], raw);
        let line: Value = serde_json::from_str(stdout(&o).trim())
            .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(&o), stderr(&o)));
        (o.status.code().unwrap_or(-1), line)
    }

    /// Ingests a new request; its ticket number.
    fn new_ticket(&self, id: &str, subject: &str) -> String {
        let (code, line) = self.pipe(request(id, subject).as_bytes());
        assert_eq!(
            (code, &line["outcome"]),
            (0, &Value::from("created")),
            "{line}"
        );
        line["ticket"].as_str().unwrap().to_string()
    }

    fn show(&self, number: &str) -> Value {
        self.json(&["show", number, "--json"])
    }

    fn history(&self, number: &str) -> Vec<String> {
        self.show(number)["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["type"].as_str().unwrap().to_string())
            .collect()
    }

    fn outbox(&self) -> Vec<String> {
        self.mailed()
            .into_iter()
            .filter(|m| !m.contains("Auto-Submitted: auto-generated"))
            .collect()
    }

    /// The agents' notifications the outbox has sent.
    fn notices(&self) -> Vec<String> {
        self.mailed()
            .into_iter()
            .filter(|m| m.contains("Auto-Submitted: auto-generated"))
            .collect()
    }

    /// Every mail the outbox has sent (into the example's Maildir).
    fn mailed(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.path("outbox/new")) else {
            return Vec::new();
        };
        dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(child: &mut Child) -> i32 {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn the_shipped_example_means_the_spec_example() {
    let spec = include_str!("../../../ticketcore/tests/data/desk.toml");
    assert_eq!(
        ticketcore::Config::from_toml(EXAMPLE).unwrap(),
        ticketcore::Config::from_toml(spec).unwrap()
    );
}

#[test]
fn init_replaces_the_configuration_and_keeps_tickets() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let number = desk.new_ticket("keep@example.com", "Printer on fire");
        let out = desk.ok(&["init", "--config", "desk.toml"]);
        assert!(out.contains("configuration version 2"), "{out}");
        assert_eq!(desk.show(&number)["title"], "Printer on fire");
    }
}

#[test]
fn a_broken_configuration_names_file_and_line_and_changes_nothing() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let typo = test_config().replacen("address = \"info@", "adress = \"info@", 1);
        let line = typo.lines().position(|l| l.starts_with("adress")).unwrap() + 1;
        std::fs::write(desk.path("typo.toml"), typo).unwrap();
        let err = desk.fails(&["init", "--config", "typo.toml"], 1);
        assert!(
            err.contains("typo.toml") && err.contains(&format!("line {line}")),
            "{err}"
        );
        assert!(err.contains("adress"), "{err}");

        let invalid = test_config().replacen(
            "name = \"Vorstand\"\ngroup = \"support\"",
            "name = \"Vorstand\"\ngroup = \"vorstand\"",
            1,
        );
        let line = invalid
            .lines()
            .position(|l| l == "name = \"Vorstand\"")
            .unwrap()
            + 1;
        std::fs::write(desk.path("invalid.toml"), invalid).unwrap();
        let err = desk.fails(&["init", "--config", "invalid.toml"], 1);
        assert!(
            err.contains(&format!("line {line}")) && err.contains("unknown group \"vorstand\""),
            "{err}"
        );

        let err = desk.fails(&["init", "--config", "missing.toml"], 1);
        assert!(err.contains("missing.toml"), "{err}");
        // Still the first configuration: nothing was half-applied.
        let out = desk.ok(&["init", "--config", "desk.toml"]);
        assert!(out.contains("configuration version 2"), "{out}");
    }
}

#[test]
fn ingest_from_stdin_as_an_mta_expects() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let (code, line) = desk.pipe(request("one@example.com", "Printer on fire").as_bytes());
        assert_eq!(code, 0);
        assert_eq!(line["source"], "stdin");
        assert_eq!(line["outcome"], "created");
        assert_eq!(line["queue"], "Allgemein");
        assert_eq!(line["auto_response"], true);
        assert_eq!(line["reason"], Value::Null);
        let number = line["ticket"].as_str().unwrap().to_string();

        let (code, again) = desk.pipe(request("one@example.com", "Printer on fire").as_bytes());
        assert_eq!((code, &again["outcome"]), (0, &Value::from("duplicate")));
        assert_eq!(again["ticket"], number.as_str());

        let reply = mail(
            "Karla Kunde <karla@example.com>",
            "info@example.org",
            &format!("AW: [Ticket#{number}] Printer on fire"),
            "two@example.com",
            "Still smoking.",
        );
        let (code, line) = desk.pipe(reply.as_bytes());
        assert_eq!((code, &line["outcome"]), (0, &Value::from("follow_up")));
        assert_eq!(line["ticket"], number.as_str());

        let invoice = mail(
            "Karla Kunde <karla@example.com>",
            "kasse@example.org",
            "Rechnung 4711",
            "three@example.com",
            "Bitte zahlen.",
        );
        let (_, line) = desk.pipe(invoice.as_bytes());
        assert_eq!(line["queue"], "Vorstand::Schatzmeister");

        let spam =
            request("four@example.com", "Win").replace("Subject:", "X-Spam-Flag: YES\r\nSubject:");
        let (code, line) = desk.pipe(spam.as_bytes());
        assert_eq!((code, &line["outcome"]), (0, &Value::from("ignored")));
        assert!(line["reason"].as_str().unwrap().contains("spam"), "{line}");
        assert_eq!(line["ticket"], Value::Null);

        // Never taken in: EX_DATAERR, so the MTA bounces it instead of losing it.
        let huge = request("five@example.com", "Scan")
            .replace("It smokes.", &"0123456789abcdef".repeat(70_000));
        let (code, line) = desk.pipe(huge.as_bytes());
        assert_eq!((code, &line["outcome"]), (65, &Value::from("rejected")));
        assert!(line["reason"].as_str().unwrap().contains("limit"), "{line}");
        let (code, _) = desk.pipe(b"");
        assert_eq!(code, 65);

        // Without --json: a line for people, and the same exit status.
        let o = desk.feed(&["ingest"], request("six@example.com", "Plain").as_bytes());
        assert!(o.status.success());
        assert!(stdout(&o).starts_with("stdin: created "), "{}", stdout(&o));
    }
}

#[test]
fn a_busy_or_unreachable_store_is_a_temporary_failure() {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk {
        store: "postgres://nobody@127.0.0.1:1/none".into(),
        dir,
    };
    let o = desk.feed(&["ingest"], request("x@example.com", "Hello").as_bytes());
    assert_eq!(o.status.code(), Some(75), "{}", stderr(&o));
}

#[test]
fn ingest_files_maildir_and_mbox() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        std::fs::write(desk.path("a.eml"), request("a@example.com", "First")).unwrap();
        std::fs::write(desk.path("b.eml"), request("b@example.com", "Second")).unwrap();
        let out = desk.ok(&["ingest", "--json", "a.eml", "b.eml"]);
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["source"], "a.eml");
        assert_eq!(lines[1]["source"], "b.eml");
        assert!(lines.iter().all(|l| l["outcome"] == "created"));
        let err = desk.fails(&["ingest", "--json", "b.eml", "missing.eml"], 1);
        assert!(err.contains("missing.eml"), "{err}");

        let maildir = desk.path("Maildir");
        std::fs::create_dir_all(maildir.join("new")).unwrap();
        for (n, id) in ["m1@example.com", "m2@example.com"].iter().enumerate() {
            std::fs::write(
                maildir.join("new").join(format!("{n}.eml")),
                request(id, "From the Maildir"),
            )
            .unwrap();
        }
        let out = desk.ok(&["ingest", "--json", "--maildir", "Maildir"]);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.lines().all(|l| l.contains("\"created\"")), "{out}");
        assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(maildir.join("cur")).unwrap().count(), 2);

        let mbox: String = ["x1", "x2", "x3"]
            .iter()
            .map(|id| {
                format!(
                    "From karla@example.com Thu Nov 26 09:00:00 2026\n{}\n",
                    request(&format!("{id}@example.com"), "From the archive").replace("\r\n", "\n")
                )
            })
            .collect();
        std::fs::write(desk.path("archive.mbox"), mbox).unwrap();
        let out = desk.ok(&["ingest", "--json", "--mbox", "archive.mbox"]);
        assert_eq!(out.matches("\"created\"").count(), 3, "{out}");
        let out = desk.ok(&["ingest", "--json", "--mbox", "archive.mbox"]);
        assert_eq!(out.matches("\"duplicate\"").count(), 3, "a rerun: {out}");
        let list = desk.json(&["list", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 7);
    }
}

#[test]
fn list_and_show_as_agents_and_customers_see_them() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let general = desk.new_ticket("g@example.com", "Printer on fire");
        let invoice = mail(
            "Karla Kunde <karla@example.com>",
            "kasse@example.org",
            "Rechnung 4711",
            "i@example.com",
            "Bitte zahlen.",
        );
        let (_, line) = desk.pipe(invoice.as_bytes());
        let invoice = line["ticket"].as_str().unwrap().to_string();

        let all = desk.json(&["list", "--json"]);
        let rows = all.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        // Queue-view order: the invoice has priority 4 from its filter.
        assert_eq!(rows[0]["number"], invoice.as_str());
        let keys = [
            "number",
            "title",
            "queue",
            "state",
            "state_type",
            "priority",
            "locked_by",
            "owner",
            "customer",
            "escalation_due",
        ];
        for key in keys {
            assert!(rows[1].get(key).is_some(), "{key} in {}", rows[1]);
        }
        assert_eq!(rows[1]["state_type"], "new");
        assert_eq!(rows[1]["customer"], "kunde1");
        assert!(rows[1]["escalation_due"].is_string(), "Allgemein escalates");

        let only = desk.json(&["list", "--json", "--queue", "Allgemein"]);
        assert_eq!(only.as_array().unwrap().len(), 1);
        let none = desk.json(&["list", "--json", "--state-type", "closed_successful"]);
        assert_eq!(none.as_array().unwrap().len(), 0);
        let bernd = desk.json(&["list", "--json", "--as", "bernd"]);
        assert_eq!(bernd.as_array().unwrap().len(), 1, "finance only: {bernd}");
        assert_eq!(bernd[0]["number"], invoice.as_str());
        let table = desk.ok(&["list"]);
        assert!(
            table.starts_with("NUMBER") && table.contains(&general),
            "{table}"
        );
        desk.fails(&["list", "--state-type", "sleeping"], 2);

        desk.ok(&["note", &general, "Internal: ask facilities", "--as", "anna"]);
        desk.ok(&[
            "note",
            &general,
            "We ordered a new printer.",
            "--as",
            "anna",
            "--visible-to-customer",
        ]);
        let agent = desk.json(&["show", &general, "--json", "--as", "anna"]);
        let articles = agent["articles"].as_array().unwrap();
        // The request, its auto-response, two notes.
        assert_eq!(articles.len(), 4, "{articles:?}");
        assert_eq!(articles[0]["sender"], "customer");
        assert_eq!(articles[0]["channel"], "email");
        assert_eq!(articles[0]["message_id"], "g@example.com");
        assert_eq!(
            articles[0]["body"].as_str().unwrap().trim_end(),
            "It smokes."
        );
        assert_eq!(articles[1]["sender"], "system");
        assert_eq!(articles[2]["visible_to_customer"], false);
        let history = agent["history"].as_array().unwrap();
        assert_eq!(history[0]["type"], "NewTicket");
        assert!(
            history
                .iter()
                .all(|h| h["actor"].is_string() && h["at"].is_string())
        );

        let customer = desk.json(&["show", &general, "--json", "--customer", "kunde1"]);
        let bodies: Vec<&str> = customer["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["body"].as_str().unwrap().trim_end())
            .collect();
        assert_eq!(bodies.len(), 3, "no internal note: {bodies:?}");
        assert_eq!(bodies[0], "It smokes.");
        assert_eq!(bodies[2], "We ordered a new printer.");
        // Another customer and a finance agent do not learn the ticket exists.
        desk.fails(&["show", &general, "--customer", "someone"], 1);
        let err = desk.fails(&["show", &general, "--as", "bernd"], 1);
        assert!(err.contains("not found"), "{err}");
        let text = desk.ok(&["show", &invoice]);
        assert!(
            text.contains("Rechnung 4711") && text.contains("History:"),
            "{text}"
        );
    }
}

#[test]
fn search_finds_what_agents_and_customers_may_see() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let general = desk.new_ticket("g@example.com", "Drucker defekt");
        let invoice = mail(
            "Karla Kunde <karla@example.com>",
            "kasse@example.org",
            "Rechnungen doppelt",
            "i@example.com",
            "Bitte die Rechnung prüfen.",
        );
        let (_, line) = desk.pipe(invoice.as_bytes());
        let invoice = line["ticket"].as_str().unwrap().to_string();
        desk.ok(&["note", &general, "Toner bestellt, geheim", "--as", "anna"]);

        let found = desk.json(&["search", "rechnung", "--json"]);
        let rows = found.as_array().unwrap();
        assert_eq!(rows.len(), 1, "{found}");
        assert_eq!(rows[0]["number"], invoice.as_str());
        for key in ["number", "title", "queue", "state", "customer", "snippet"] {
            assert!(rows[0].get(key).is_some(), "{key} in {}", rows[0]);
        }
        assert!(rows[0]["snippet"].as_str().unwrap().contains("Rechnung"));
        // Permissions: bernd reads finance only, the customer not the internal note.
        let bernd = desk.json(&["search", "drucker", "--json", "--as", "bernd"]);
        assert_eq!(bernd.as_array().unwrap().len(), 0, "{bernd}");
        let anna = desk.json(&["search", "geheim", "--json", "--as", "anna"]);
        assert_eq!(anna[0]["number"], general.as_str());
        let customer = desk.json(&["search", "geheim", "--json", "--customer", "kunde1"]);
        assert_eq!(customer.as_array().unwrap().len(), 0, "{customer}");
        let theirs = desk.json(&[
            "search",
            "defekte Drucker",
            "--json",
            "--customer",
            "kunde1",
        ]);
        assert_eq!(theirs[0]["number"], general.as_str());
        let table = desk.ok(&["search", "drucker"]);
        assert!(
            table.starts_with("NUMBER") && table.contains("[Drucker]"),
            "{table}"
        );
        // A query that cannot be read says why; a rebuild finds the same.
        let err = desk.fails(&["search", "created:someday"], 1);
        assert!(err.contains("not a date"), "{err}");
        assert!(desk.ok(&["reindex"]).contains("indexed 2 tickets"));
        assert_eq!(desk.json(&["search", "rechnung", "--json"]), found);
    }
}

#[test]
fn faq_add_edit_find_show_and_send() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let out = desk.ok(&[
            "faq",
            "add",
            "--title",
            "Beitrag zahlen",
            "--category",
            "Mitglieder",
            "--public",
            "--keywords",
            "SEPA,Lastschrift",
            "--language",
            "de",
            "--as",
            "anna",
            "Überweisen Sie den Mitgliedsbeitrag bis Ende März.",
        ]);
        let public = out.split_whitespace().last().unwrap().to_string();
        assert!(
            public.parse::<u64>().is_ok(),
            "the number is the last word: {out}"
        );
        let out = desk.ok(&[
            "faq",
            "add",
            "--title",
            "Mahnliste",
            "--category",
            "Mitglieder",
            "--as",
            "anna",
            "Die Mahnliste liegt beim Vorstand.",
        ]);
        let internal = out.split_whitespace().last().unwrap().to_string();
        assert!(out.starts_with("internal"), "{out}");
        // Writing needs rw on the category's group.
        let err = desk.fails(
            &[
                "faq",
                "add",
                "--title",
                "x",
                "--category",
                "Mitglieder::Beiträge",
                "--as",
                "anna",
                "y",
            ],
            1,
        );
        assert!(err.contains("permission denied"), "{err}");

        // Found in inflected forms, by what each reader may see.
        let found = desk.json(&["faq", "search", "Beiträge", "--public", "--json"]);
        let rows = found.as_array().unwrap();
        assert_eq!(rows.len(), 1, "{found}");
        assert_eq!(rows[0]["number"].to_string(), public);
        for key in [
            "number", "title", "category", "state", "language", "snippet",
        ] {
            assert!(rows[0].get(key).is_some(), "{key} in {}", rows[0]);
        }
        assert_eq!(
            desk.json(&[
                "faq",
                "search",
                "lastschrift",
                "--json",
                "--customer",
                "kunde1"
            ])
            .as_array()
            .unwrap()
            .len(),
            1,
            "keywords"
        );
        for reader in [
            &["--public"][..],
            &["--customer", "kunde1"],
            &["--as", "bernd"],
        ] {
            let mut args = vec!["faq", "search", "mahnlisten", "--json"];
            args.extend_from_slice(reader);
            assert_eq!(desk.json(&args).as_array().unwrap().len(), 0, "{reader:?}");
        }
        let anna = desk.json(&["faq", "search", "mahnlisten", "--json", "--as", "anna"]);
        assert_eq!(anna[0]["number"].to_string(), internal);
        assert_eq!(
            desk.json(&["faq", "list", "--json", "--as", "anna"])
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            desk.json(&["faq", "list", "--json", "--public"])
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let table = desk.ok(&["faq", "search", "beitrag", "--public"]);
        assert!(
            table.starts_with("NUMBER") && table.contains("[Beitrag]"),
            "{table}"
        );
        let err = desk.fails(&["faq", "search", "queue:Allgemein"], 1);
        assert!(err.contains("does not filter the FAQ search"), "{err}");
        let err = desk.fails(&["faq", "show", &internal, "--public"], 1);
        assert!(err.contains("not found"), "{err}");

        // Every change is a version, shown as history.
        let out = desk.ok(&[
            "faq",
            "edit",
            &internal,
            "--state",
            "public",
            "--title",
            "Mahnliste 2026",
            "--as",
            "anna",
        ]);
        assert!(out.contains("version 2") && out.contains("title"), "{out}");
        let shown = desk.json(&["faq", "show", &internal, "--json", "--as", "anna"]);
        assert_eq!(shown["versions"].as_array().unwrap().len(), 2, "{shown}");
        let text = desk.ok(&["faq", "show", &internal, "--as", "anna"]);
        assert!(text.contains("history:") && text.contains("v2"), "{text}");
        assert_eq!(
            desk.json(&["faq", "list", "--json", "--public"])
                .as_array()
                .unwrap()
                .len(),
            2
        );

        // Sent as a reply, recorded in the ticket's history.
        let ticket = desk.new_ticket("faq@example.com", "Wie zahle ich?");
        let out = desk.ok(&["faq", "send", &public, &ticket, "--as", "anna"]);
        assert!(out.contains(&format!("FAQ entry {public}")), "{out}");
        let shown = desk.show(&ticket);
        let articles = shown["articles"].as_array().unwrap();
        assert!(
            articles.last().unwrap()["body"]
                .as_str()
                .unwrap()
                .contains("Mitgliedsbeitrag"),
            "{shown}"
        );
        assert!(desk.history(&ticket).contains(&"SendAnswer".to_string()));
    }
}

#[test]
fn agent_actions_and_their_refusals() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let out = desk.ok(&[
            "create",
            "--queue",
            "Allgemein",
            "--title",
            "Phone: VPN down",
            "--customer",
            "kunde1",
            "--as",
            "anna",
            "The VPN drops every ten minutes.",
        ]);
        let number = out.split(':').next().unwrap().to_string();
        let t = desk.show(&number);
        assert_eq!(t["articles"][0]["channel"], "phone");
        assert_eq!(t["customer"], "kunde1");

        desk.ok(&["lock", &number, "--as", "anna"]);
        let err = desk.fails(&["lock", &number, "--as", "carl"], 1);
        assert!(err.contains("locked by anna"), "{err}");
        let err = desk.fails(&["lock", &number, "--as", "bernd"], 1);
        assert!(err.contains("not found") || err.contains("denied"), "{err}");
        desk.ok(&["unlock", &number, "--as", "anna"]);
        assert_eq!(desk.show(&number)["locked_by"], Value::Null);

        desk.ok(&["priority", &number, "5", "--as", "anna"]);
        desk.ok(&["owner", &number, "carl", "--as", "anna"]);
        let err = desk.fails(&["state", &number, "pending reminder", "--as", "anna"], 1);
        assert!(err.contains("pending"), "{err}");
        desk.ok(&[
            "state",
            &number,
            "pending reminder",
            "--pending-until",
            "2026-12-01T09:00:00+01:00",
            "--as",
            "anna",
        ]);
        let err = desk.fails(&["state", &number, "merged", "--as", "anna"], 1);
        assert!(err.contains("merged"), "{err}");
        desk.ok(&[
            "note",
            &number,
            "Called back.",
            "--notify",
            "bernd",
            "--as",
            "carl",
        ]);
        desk.ok(&["move", &number, "Vorstand", "--as", "anna"]);
        let t = desk.show(&number);
        assert_eq!(t["queue"], "Vorstand");
        assert_eq!(t["priority"], 5);
        assert_eq!(t["owner"], "carl");
        assert_eq!(t["state"], "pending reminder");
        let history = desk.history(&number);
        for kind in [
            "PhoneCallCustomer",
            "Lock",
            "Unlock",
            "PriorityUpdate",
            "OwnerUpdate",
            "SetPendingTime",
            "AddNote",
            "Move",
        ] {
            assert!(history.iter().any(|h| h == kind), "{kind} in {history:?}");
        }

        // Replies go out through the configured transport (a Maildir here).
        let mailed = desk.new_ticket("r@example.com", "Printer on fire");
        let before = desk.outbox().len();
        let out = desk.ok(&[
            "reply",
            &mailed,
            "A technician comes at ten.",
            "--as",
            "anna",
        ]);
        assert!(out.contains("sent through maildir:"), "{out}");
        let outbox = desk.outbox();
        // The auto-response waited in the outbox too; both are out now.
        assert_eq!(outbox.len(), before + 2, "{outbox:?}");
        assert!(
            outbox
                .iter()
                .any(|m| m.contains("A technician comes at ten.")
                    && m.contains(&format!("[Ticket#{mailed}]"))
                    && m.contains("karla@example.com"))
        );
        desk.ok(&["reply", &mailed, "--template", "received", "--as", "anna"]);
        assert!(desk.outbox().iter().any(|m| m.contains("Dear Karla Kunde")));
        desk.fails(&["reply", &mailed, "--template", "nope", "--as", "anna"], 1);

        // Usage errors: status 2.
        desk.fails(&["priority", &mailed, "9", "--as", "anna"], 2);
        desk.fails(&["lock", &mailed], 2);
        desk.fails(&["lock", "12ab", "--as", "anna"], 2);
        let wrong_check_digit = format!("{}{}", &mailed[..mailed.len() - 1], {
            let d = mailed.chars().last().unwrap().to_digit(10).unwrap();
            (d + 1) % 10
        });
        desk.fails(&["lock", &wrong_check_digit, "--as", "anna"], 2);
        desk.fails(
            &[
                "state",
                &mailed,
                "open",
                "--pending-until",
                "tomorrow",
                "--as",
                "anna",
            ],
            2,
        );
        desk.fails(&["--store", "ftp://example.org", "list"], 2);
        desk.fails(&["frobnicate"], 2);
        let err = desk.fails(&["lock", &mailed, "--as", "nobody"], 1);
        assert!(err.contains("nobody"), "{err}");
        let err = desk.fails(&["move", &mailed, "Nowhere", "--as", "anna"], 1);
        assert!(err.contains("Nowhere"), "{err}");
    }
}

#[test]
fn tick_serve_tick_and_events() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let number = desk.new_ticket("t@example.com", "Printer on fire");
        let out = desk.ok(&["tick", "--now", "2027-01-15T12:00:00Z"]);
        assert!(out.contains("1 tickets changed"), "{out}");
        // The auto-response, and the agents told of the new ticket and its escalations.
        assert!(out.contains("8 sent"), "{out}");
        assert_eq!(desk.outbox().len(), 1, "the auto-response went out");
        let notices = desk.notices();
        // anna and carl read the queue: each is told of the new ticket, and of the warning
        // and the breach of each of its three deadlines.
        assert_eq!(notices.len(), 2 * 7, "{notices:?}");
        assert!(notices.iter().all(|n| n.contains(&number)));
        let history = desk.history(&number);
        assert!(history.iter().any(|h| h == "Escalation"), "{history:?}");

        let events: Vec<Value> = desk
            .ok(&["events"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(events.len() >= 4);
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert_eq!(events[0]["type"], "NewTicket");
        assert_eq!(events[0]["number"], number.as_str());
        let later = desk.ok(&["events", "--since", &seqs[1].to_string()]);
        assert_eq!(later.lines().count(), seqs.len() - 2);

        // A follower resumes from its cursor and is told about new events as they come.
        let last = *seqs.last().unwrap();
        let mut follower = desk
            .cmd(&["events", "--follow", "--since", &last.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(follower.stdout.take().unwrap()).lines();
        // serve-tick sends the next auto-response while it runs.
        let mut server = desk.cmd(&["serve-tick", "--poll", "1"]).spawn().unwrap();
        let sent_before = desk.outbox().len();
        let fresh = desk.new_ticket("t2@example.com", "Second request");
        wait_until("serve-tick sends the auto-response", || {
            desk.outbox().len() > sent_before
        });
        let mut seen = Vec::new();
        for line in lines {
            let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
            seen.push(event["seq"].as_u64().unwrap());
            if event["type"] == "SendAutoReply" && event["number"] == fresh.as_str() {
                break;
            }
        }
        assert_eq!(seen[0], last + 1, "resumed after the cursor: {seen:?}");
        assert_eq!(terminate(&mut follower), 0);
        assert_eq!(terminate(&mut server), 0);
    }
}

#[test]
fn stats_count_tickets_flows_and_times() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let a = desk.new_ticket("s1@example.com", "One");
        desk.new_ticket("s2@example.com", "Two");
        desk.ok(&["reply", &a, "Fixed.", "--as", "anna"]);
        desk.ok(&["state", &a, "closed successful", "--as", "anna"]);
        let stats = desk.json(&["stats", "--json"]);
        assert_eq!(stats["tickets"], 2);
        assert_eq!(stats["by_queue"]["Allgemein"]["new"], 1);
        assert_eq!(stats["by_state_type"]["closed_successful"], 1);
        let days = stats["per_day"].as_array().unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(
            (&days[0]["created"], &days[0]["closed"]),
            (&2.into(), &1.into())
        );
        assert!(stats["median_first_response_seconds"].as_i64().unwrap() >= 0);
        assert!(stats["median_solution_seconds"].as_i64().unwrap() >= 0);
        assert_eq!(stats["escalated"], 0);
        assert_eq!(stats["agents"]["anna"]["closed"], 1);
        let bernd = desk.json(&["stats", "--json", "--as", "bernd"]);
        assert_eq!(bernd["created"], 0, "finance only: {bernd}");
        let text = desk.ok(&["stats"]);
        assert!(text.contains("2 tickets, 0 escalated"), "{text}");
    }
}

#[test]
fn export_and_import_move_a_desk_between_backends() {
    for (from, to) in [(Kind::Redb, Kind::Sqlite), (Kind::Sqlite, Kind::Redb)] {
        let desk = Desk::new(from);
        let number = desk.new_ticket("e1@example.com", "Printer on fire");
        let with_file = request("e2@example.com", "Scan").replace(
            "Content-Type: text/plain; charset=utf-8\r\n\r\nIt smokes.",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
             See attached.\r\n--b\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"scan.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b--",
        );
        let (_, line) = desk.pipe(with_file.as_bytes());
        let scanned = line["ticket"].as_str().unwrap().to_string();
        desk.ok(&["lock", &number, "--as", "anna"]);
        desk.ok(&["note", &number, "internal", "--as", "anna"]);
        std::fs::write(desk.path("konto.txt"), "IBAN DE00 1234").unwrap();
        let out = desk.ok(&[
            "faq",
            "add",
            "--title",
            "Konto",
            "--category",
            "Mitglieder",
            "--attach",
            "konto.txt",
            "--as",
            "anna",
            "Unser Konto steht im Anhang.",
        ]);
        let entry = out.split_whitespace().last().unwrap().to_string();
        desk.ok(&[
            "faq",
            "edit",
            &entry,
            "--state",
            "public",
            "--detach",
            "konto.txt",
            "--as",
            "anna",
        ]);
        let export = desk.ok(&["export", "--json"]);
        std::fs::write(desk.path("desk.jsonl"), &export).unwrap();

        let target = store_url(to, desk.dir.path(), "moved");
        let moved = Desk {
            dir: tempfile::tempdir().unwrap(),
            store: target.clone(),
        };
        let out = moved.ok(&["import", desk.path("desk.jsonl").to_str().unwrap()]);
        assert!(
            out.contains("imported 2 tickets") && out.contains("1 FAQ entries"),
            "{out}"
        );
        let faq = |d: &Desk| d.json(&["faq", "show", &entry, "--json", "--as", "anna"]);
        assert_eq!(
            faq(&moved),
            faq(&desk),
            "the entry moved with every version"
        );
        assert_eq!(
            faq(&moved)["versions"][0]["attachments"][0]["name"],
            "konto.txt"
        );
        let next_entry = moved.ok(&[
            "faq",
            "add",
            "--title",
            "Neu",
            "--category",
            "Mitglieder",
            "--as",
            "anna",
            "x",
        ]);
        assert_ne!(
            next_entry.split_whitespace().last().unwrap(),
            entry,
            "FAQ numbers continue"
        );
        assert_eq!(
            moved.json(&["list", "--json"]),
            desk.json(&["list", "--json"])
        );
        for n in [&number, &scanned] {
            assert_eq!(moved.show(n), desk.show(n), "{n} moved whole");
        }
        assert_eq!(
            moved.show(&scanned)["articles"][0]["attachments"][0]["size"],
            10
        );
        // The moved desk goes on: numbers continue, agents act, nothing is sent twice.
        let next = moved.new_ticket("e3@example.com", "After the move");
        assert_ne!(next, number);
        assert_ne!(next, scanned);
        moved.ok(&["unlock", &number, "--as", "anna"]);
        let before = moved.outbox().len();
        moved.ok(&["tick"]);
        assert_eq!(
            moved.outbox().len(),
            before + 1,
            "only the new auto-response"
        );
        // Importing into a desk that is not empty is refused.
        let err = moved.fails(&["import", desk.path("desk.jsonl").to_str().unwrap()], 1);
        assert!(err.contains("empty"), "{err}");
        std::fs::write(desk.path("junk.jsonl"), "{\"kind\":\"nonsense\"}\n").unwrap();
        let other = Desk {
            dir: tempfile::tempdir().unwrap(),
            store: store_url(to, desk.dir.path(), "other"),
        };
        let err = other.fails(&["import", desk.path("junk.jsonl").to_str().unwrap()], 1);
        assert!(err.contains("line 1"), "{err}");
    }
}

/// Signs in on the store at `url` in this process, as the web server will: the actor a
/// password and a token stand for, or the error.
fn sign_in(url: &str, login: &str, password: &str, token: &str) -> (String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let desk = ticketcore_app::Access::new(url)
            .unwrap()
            .desk()
            .await
            .unwrap();
        let by_password = desk.sign_in(login, password).await;
        let by_token = desk.actor_for_token(token).await;
        let show = |r: Result<ticketcore::Actor, ticketcore::Error>| match r {
            Ok(actor) => actor.to_string(),
            Err(e) => e.to_string(),
        };
        (show(by_password), show(by_token))
    })
}

#[test]
fn passwords_and_tokens_are_set_listed_revoked_and_move_with_the_desk() {
    for (from, to) in [(Kind::Redb, Kind::Sqlite), (Kind::Sqlite, Kind::Redb)] {
        let desk = Desk::new(from);
        let set = |args: &[&str], input: &str| desk.feed(args, input.as_bytes());
        let o = set(&["passwd", "anna", "--stdin"], "short\n");
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("at least 8"), "{}", stderr(&o));
        let o = set(&["passwd", "anna", "--stdin"], "anna's passphrase\n");
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("password set for agent:anna"));
        let o = set(
            &["passwd", "kunde1", "--customer", "--stdin"],
            "karla's secret\r\n",
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let o = set(&["passwd", "ghost", "--stdin"], "whatever it is\n");
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("ghost"), "{}", stderr(&o));
        // Without a terminal and without --stdin there is nobody to ask.
        let o = set(&["passwd", "anna"], "anna's passphrase\n");
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

        let out = desk.ok(&[
            "token",
            "create",
            "--as",
            "anna",
            "--name",
            "bot",
            "--expires",
            "90d",
        ]);
        let token = out.lines().last().unwrap().to_string();
        assert!(token.starts_with("tct_") && token.len() > 64, "{out}");
        let err = desk.fails(&["token", "create", "--as", "anna", "--name", "bot"], 1);
        assert!(err.contains("already has a token"), "{err}");
        desk.fails(
            &[
                "token",
                "create",
                "--as",
                "anna",
                "--name",
                "x",
                "--expires",
                "soon",
            ],
            2,
        );
        let listed = desk.json(&["token", "list", "--as", "anna", "--json"]);
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["name"], "bot");
        assert_eq!(listed[0]["expired"], false);
        assert!(listed[0]["expires"].as_str().unwrap() > listed[0]["created"].as_str().unwrap());
        let table = desk.ok(&["token", "list", "--as", "anna"]);
        assert!(
            table.starts_with("NAME") && table.contains("bot"),
            "{table}"
        );
        assert!(!table.contains(&token));
        assert_eq!(
            sign_in(&desk.store, "anna", "anna's passphrase", &token),
            ("agent:anna".to_string(), "agent:anna".to_string())
        );

        // The export carries hashes, never a password or a token.
        let export = desk.ok(&["export", "--json"]);
        assert!(export.contains("$argon2id$"));
        assert!(!export.contains("passphrase") && !export.contains("secret"));
        assert!(!export.contains(&token));
        std::fs::write(desk.path("desk.jsonl"), &export).unwrap();
        let moved = Desk {
            dir: tempfile::tempdir().unwrap(),
            store: store_url(to, desk.dir.path(), "moved"),
        };
        let out = moved.ok(&["import", desk.path("desk.jsonl").to_str().unwrap()]);
        assert!(out.contains("2 sign-in accounts"), "{out}");
        assert_eq!(
            sign_in(&moved.store, "anna", "anna's passphrase", &token),
            ("agent:anna".to_string(), "agent:anna".to_string())
        );
        let (customer, _) = sign_in(&moved.store, "kunde1", "karla's secret", &token);
        assert_eq!(customer, "customer:kunde1");

        moved.ok(&["token", "revoke", "--as", "anna", "bot"]);
        let (wrong, revoked) = sign_in(&moved.store, "anna", "wrong password", &token);
        assert!(wrong.contains("sign-in failed"), "{wrong}");
        assert!(revoked.contains("not authorised"), "{revoked}");
        moved.fails(&["token", "revoke", "--as", "anna", "bot"], 1);
        assert_eq!(
            moved.json(&["token", "list", "--as", "anna", "--json"]),
            serde_json::json!([])
        );
    }
}

#[test]
fn demo_runs_twice_and_keeps_to_its_own_store() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk {
            store: store_url(kind, dir.path(), "demo"),
            dir,
        };
        let first = desk.ok(&["demo"]);
        assert!(first.starts_with("NUMBER"), "{first}");
        assert!(first.contains(r#"sign in as agent "anna" with password "demo-anna-2026""#));
        assert!(first.contains(r#"sign in as customer "kunde1" with password "demo-kunde1-2026""#));
        let (anna, _) = sign_in(&desk.store, "anna", "demo-anna-2026", "");
        assert_eq!(anna, "agent:anna");
        let tickets = desk.json(&["list", "--json"]);
        let rows = tickets.as_array().unwrap();
        assert!(rows.len() >= 24, "a few dozen tickets: {}", rows.len());
        assert!(rows.iter().any(|r| r["locked_by"] == "anna"));
        assert!(rows.iter().any(|r| r["state_type"] == "pending_reminder"));
        assert!(rows.iter().any(|r| r["state_type"] == "closed_successful"));
        let stats = desk.json(&["stats", "--json"]);
        assert!(stats["escalated"].as_u64().unwrap() > 0, "{stats}");

        let second = desk.ok(&["demo"]);
        assert!(second.contains("(0 new this run"), "{second}");
        assert_eq!(
            desk.json(&["list", "--json"]).as_array().unwrap().len(),
            rows.len()
        );

        let other = Desk::new(kind);
        let err = other.fails(&["demo"], 1);
        assert!(err.contains("not the demo"), "{err}");
    }
}

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk {
        store: store_url(Kind::Redb, dir.path(), "none"),
        dir,
    };
    let subcommands = [
        "init",
        "ingest",
        "list",
        "show",
        "lock",
        "unlock",
        "move",
        "state",
        "priority",
        "owner",
        "note",
        "reply",
        "create",
        "tick",
        "serve-tick",
        "events",
        "demo",
        "stats",
        "export",
        "import",
        "passwd",
        "token",
    ];
    let top = desk.ok(&["--help"]);
    for sub in subcommands {
        assert!(top.contains(sub), "{sub} listed in: {top}");
        let help = desk.ok(&[sub, "--help"]);
        assert!(help.contains("Usage: ticketctl"), "{sub}: {help}");
    }
    // An unconfigured desk says what to do.
    let err = desk.fails(&["list"], 1);
    assert!(err.contains("ticketctl init"), "{err}");
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let desk = Desk::new(Kind::Redb);
    let mbox: String = (0..800)
        .map(|i| {
            format!(
                "From k@example.com Thu Nov 26 09:00:00 2026\n{}\n",
                request(&format!("p{i}@example.com"), "Piped").replace("\r\n", "\n")
            )
        })
        .collect();
    std::fs::write(desk.path("many.mbox"), mbox).unwrap();
    desk.ok(&["ingest", "--mbox", "many.mbox"]);
    // Like `ticketctl list | head -1`: the reader closes after the first line, while more
    // than a pipe buffer of output is still to come.
    let mut child = desk
        .cmd(&["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(first.starts_with("NUMBER"), "{first}");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "no panic message");
    // The store was closed cleanly: the next command opens it at once.
    desk.ok(&["list", "--limit", "1"]);
}

/// Sends `signal` to a child process.
fn signal(child: &Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
}

/// While serve-tick runs, an MTA's `ingest` only spools the message (checked, durable) and
/// serve-tick delivers it; mail spooled while serve-tick hangs and then dies is delivered by
/// the next one; without serve-tick, `ingest` delivers directly again.
#[test]
fn ingest_spools_for_a_running_serve_tick() {
    for kind in KINDS {
        let desk = Desk::new(kind);
        let file = desk.store.split_once(':').unwrap().1.to_string();
        let lock = PathBuf::from(format!("{file}.spool/attendant.lock"));
        let attend = || {
            let server = desk
                .cmd(&["serve-tick", "--poll", "1"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            wait_until("serve-tick attends the spool", || {
                let Ok(file) = std::fs::File::open(&lock) else {
                    return false;
                };
                let held = matches!(
                    file.try_lock_shared(),
                    Err(std::fs::TryLockError::WouldBlock)
                );
                held && std::fs::read_to_string(&lock)
                    .is_ok_and(|l| l.contains("max_message_size=1000000"))
            });
            server
        };
        let titles = || -> Vec<String> {
            desk.json(&["list", "--json"])
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_string())
                .collect()
        };
        let mut server = attend();
        let o = desk.feed(
            &["ingest"],
            request("spooled-1@k", "Spooled one").as_bytes(),
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("spooled"), "{}", stdout(&o));
        wait_until("serve-tick delivers the spooled mail", || {
            titles().contains(&"Spooled one".to_string())
        });
        // A damaged journal: mail is spooled as a file, and serve-tick starts a fresh one.
        let journal = PathBuf::from(format!("{file}.spool/journal"));
        std::fs::write(&journal, b"garbage").unwrap();
        let o = desk.feed(&["ingest"], request("filed@k", "Filed").as_bytes());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("/new/"), "{}", stdout(&o));
        wait_until("serve-tick delivers the spooled file", || {
            titles().contains(&"Filed".to_string())
        });
        wait_until("serve-tick makes a fresh journal", || {
            std::fs::metadata(&journal).is_ok_and(|m| m.len() > 4096)
        });
        // What the desk would refuse is refused at once, so the MTA tells the sender.
        let huge = request("huge@k", "Huge") + &"x".repeat(1_100_000);
        let o = desk.feed(&["ingest"], huge.as_bytes());
        assert_eq!(o.status.code(), Some(65), "{}", stderr(&o));
        assert!(stderr(&o).contains("exceeds the limit"), "{}", stderr(&o));
        let o = desk.feed(&["ingest"], b"\n\n");
        assert_eq!(o.status.code(), Some(65), "{}", stderr(&o));
        // --json reports what became of the message, so it delivers directly.
        let (code, line) = desk.pipe(request("direct@k", "Direct").as_bytes());
        assert_eq!(
            (code, &line["outcome"]),
            (0, &Value::from("created")),
            "{line}"
        );

        // Spooled while serve-tick hangs, then it dies: the next one delivers the mail.
        signal(&server, "-STOP");
        for i in 2..5 {
            let o = desk.feed(
                &["ingest"],
                request(&format!("spooled-{i}@k"), &format!("Spooled {i}")).as_bytes(),
            );
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        }
        signal(&server, "-KILL");
        server.wait().unwrap();
        assert!(!titles().contains(&"Spooled 2".to_string()));
        let mut server = attend();
        wait_until("the next serve-tick delivers what was spooled", || {
            let titles = titles();
            (2..5).all(|i| titles.contains(&format!("Spooled {i}")))
        });
        assert_eq!(terminate(&mut server), 0);
        assert_eq!(titles().len(), 6, "{:?}", titles());

        // Nobody attends: ingest delivers by itself.
        let o = desk.feed(&["ingest"], request("alone@k", "Alone").as_bytes());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("created"), "{}", stdout(&o));
    }
}

#[test]
fn webhooks_are_listed_with_their_state_and_resumed() {
    let desk = Desk::new(Kind::Sqlite);
    // A receiver nobody runs: every post fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = test_config()
        + &format!(
            "\n[[webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\
             secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
        );
    std::fs::write(desk.path("desk.toml"), config).unwrap();
    desk.ok(&["init", "--config", "desk.toml"]);
    desk.feed(&["ingest"], request("hook-1", "Für den Webhook").as_bytes());
    let round = desk.ok(&["tick"]);
    assert!(round.contains("webhooks: 0 delivered, 1 failed"), "{round}");
    let listed = desk.ok(&["webhooks"]);
    assert!(
        listed.contains("chat") && listed.contains("retrying"),
        "{listed}"
    );
    let json = desk.json(&["webhooks", "list", "--json"]);
    assert_eq!(json[0]["state"]["failures"], 1, "{json}");
    assert!(
        json[0]["state"]["last_error"]
            .as_str()
            .unwrap()
            .contains("error"),
        "{json}"
    );
    desk.fails(&["webhooks", "resume", "nobody"], 1);
    desk.ok(&["webhooks", "resume", "chat"]);
    assert_eq!(
        desk.json(&["webhooks", "list", "--json"])[0]["state"]["failures"],
        0
    );
}
