//! The bot against a real IRC server: ngircd on a free loopback port (Debian's package, which
//! `.ci/run` installs). A test client joins, sees a ticket created through the Desk announced,
//! runs commands, is refused where its agent may not act, an unmapped nick may do nothing;
//! the bot is restarted and catches up without repeats, and reconnects when the server
//! drops it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ticketcore::{Actor, Channel, Desk, MemoryStore, Message, NewTicket, TicketQuery};
use ticketcore_app::irc::{BotConfig, run};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ngircd() -> Option<String> {
    ["/usr/sbin/ngircd", "/usr/bin/ngircd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_string)
}

async fn start_server(binary: &str, dir: &std::path::Path, port: u16) -> Server {
    let conf = dir.join("ngircd.conf");
    std::fs::write(
        &conf,
        format!(
            "[Global]\nName = irc.test.local\nInfo = test\nListen = 127.0.0.1\nPorts = {port}\n\
             PidFile = {pid}\nServerUID = 65534\nServerGID = 65534\nMotdPhrase = hello\n\
             [Limits]\nMaxConnectionsIP = 0\nPingTimeout = 120\n\
             [Options]\nDNS = no\nIdent = no\nPAM = no\n",
            pid = dir.join("ngircd.pid").display()
        ),
    )
    .unwrap();
    let server = Server(
        Command::new(binary)
            .args(["-n", "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ngircd starts"),
    );
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("ngircd did not listen on {port}");
}

/// A person's IRC client: raw lines.
struct Person {
    nick: String,
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    write: tokio::net::tcp::OwnedWriteHalf,
}

impl Person {
    async fn join(port: u16, nick: &str, channel: &str) -> Person {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (read, write) = stream.into_split();
        let mut person = Person {
            nick: nick.into(),
            lines: BufReader::new(read).lines(),
            write,
        };
        person.send(&format!("NICK {nick}")).await;
        person.send(&format!("USER {nick} 0 * :{nick}")).await;
        person.expect(" 001 ").await;
        person.send(&format!("JOIN {channel}")).await;
        person.expect(" 366 ").await;
        person
    }

    async fn send(&mut self, line: &str) {
        self.write
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    async fn say(&mut self, channel: &str, text: &str) {
        self.send(&format!("PRIVMSG {channel} :{text}")).await;
    }

    /// Reads until a line contains `needle` (answering pings); returns it.
    async fn expect(&mut self, needle: &str) -> String {
        let nick = self.nick.clone();
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("connection open");
                if let Some(token) = line.strip_prefix("PING ") {
                    self.send(&format!("PONG {token}")).await;
                    continue;
                }
                if line.contains(needle) {
                    return line;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("{nick} never saw {needle:?}"))
    }

    /// Every line for `wait`.
    async fn drain(&mut self, wait: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(wait, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                seen.push(line);
            }
        })
        .await;
        seen
    }
}

fn complain(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "bot: {line}");
}

fn bot_config(port: u16) -> BotConfig {
    BotConfig::from_toml(&format!(
        "server = \"127.0.0.1\"\nport = {port}\nnick = \"deskbot\"\nburst = 20\nburst_window = 2\n\
         [[channels]]\nname = \"#support\"\nagent = \"anna\"\n\
         [nicks]\nanna_irc = \"anna\"\n"
    ))
    .unwrap()
}

fn start_bot(desk: &Arc<Desk>, port: u16) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let desk = desk.clone();
    tokio::spawn(async move {
        run(
            desk,
            bot_config(port),
            async {
                let _ = stopped.await;
            },
            &complain,
        )
        .await;
    });
    stop
}

async fn new_ticket(desk: &Desk, title: &str) -> String {
    let input = NewTicket::new(
        "Allgemein",
        title,
        Channel::Email,
        Message::text("Der Drucker klemmt."),
    );
    desk.create_ticket(&Actor::System, input)
        .await
        .unwrap()
        .ticket
        .number
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_announces_answers_refuses_and_catches_up() {
    let Some(binary) = ngircd() else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED IRC bot test: ngircd is not installed (apt-get install ngircd)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = start_server(&binary, dir.path(), port).await;
    let (desk, _) = ticketcore_app::demo::make(Arc::new(MemoryStore::new()))
        .await
        .unwrap();

    let mut anna = Person::join(port, "anna_irc", "#support").await;
    let stop = start_bot(&desk, port);
    anna.expect("JOIN").await;

    // A ticket made through the Desk is announced.
    let first = new_ticket(&desk, "Drucker im Büro klemmt").await;
    let said = anna.expect(&format!("[new] {first}")).await;
    assert!(said.contains("Drucker im Büro klemmt"), "{said}");

    // Commands act as anna, through the Desk.
    anna.say("#support", &format!("!ticket {first}")).await;
    anna.expect(&format!("anna_irc: {first} Drucker")).await;
    anna.say("#support", &format!("!lock {first}")).await;
    anna.expect("locked by anna").await;
    anna.say("#support", &format!("!note {first} kümmere mich"))
        .await;
    anna.expect(&format!("note added to {first}")).await;
    anna.say("#support", "!search Drucker").await;
    anna.expect(&first).await;
    anna.say("#support", "!queue Allgemein").await;
    anna.expect("anna_irc: 20").await;
    // A queue anna may not touch: refused, in one line.
    let theirs = desk
        .queue_view(
            &Actor::System,
            TicketQuery {
                queues: Some(["Vorstand::Schatzmeister".to_string()].into()),
                limit: 1,
                ..TicketQuery::default()
            },
        )
        .await
        .unwrap()
        .tickets[0]
        .number
        .to_string();
    anna.say("#support", &format!("!lock {theirs}")).await;
    anna.expect("!lock refused").await;
    anna.say("#support", &format!("!close {first}")).await;
    anna.expect("closed successful").await;

    // Someone the bot does not know may do nothing.
    let mut mallory = Person::join(port, "mallory", "#support").await;
    mallory.say("#support", &format!("!unlock {first}")).await;
    mallory.expect("mallory: you are not mapped").await;
    let ticket = desk.find(&Actor::System, &first).await.unwrap();
    assert_eq!(ticket.state, "closed successful");

    // Stopped, it misses a ticket; restarted, it announces that one, once, and nothing again.
    stop.send(()).unwrap();
    anna.expect("QUIT").await;
    let missed = new_ticket(&desk, "Kopierer leer").await;
    let stop = start_bot(&desk, port);
    anna.expect(&format!("[new] {missed}")).await;
    let later = anna.drain(Duration::from_secs(3)).await;
    assert!(
        later.iter().all(|l| !l.contains("[new]")),
        "repeats: {later:?}"
    );

    // The server drops everyone: the bot comes back by itself.
    drop(server);
    let _server = start_server(&binary, dir.path(), port).await;
    let mut anna = Person::join(port, "anna_irc", "#support").await;
    let after = new_ticket(&desk, "Nach dem Neustart").await;
    anna.expect(&format!("[new] {after}")).await;
    let _ = stop.send(());
}
