//! `ticketcore-web --irc-bot BOT.toml` on a redb desk: the server holds the file and runs the
//! IRC bot in its own process; a ticket created through the API is announced in the channel
//! of a real IRC server (ngircd, which `.ci/run` installs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Running, free_port, http};

fn post(address: &str, path: &str, headers: &str, body: &str) -> String {
    http(
        address,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n{headers}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn the_web_server_runs_the_irc_bot_on_its_redb_desk() {
    let Some(ngircd) = ["/usr/sbin/ngircd", "/usr/bin/ngircd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED web server with the IRC bot: ngircd is not installed"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let irc_port = free_port();
    let conf = dir.path().join("ngircd.conf");
    std::fs::write(
        &conf,
        format!(
            "[Global]\nName = irc.test.local\nInfo = test\nListen = 127.0.0.1\nPorts = {irc_port}\n\
             PidFile = {}\nServerUID = 65534\nServerGID = 65534\nMotdPhrase = hello\n\
             [Options]\nDNS = no\nIdent = no\nPAM = no\n",
            dir.path().join("ngircd.pid").display()
        ),
    )
    .unwrap();
    let _ircd = Running(
        Command::new(ngircd)
            .args(["-n", "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    let irc = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", irc_port)) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ngircd did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    irc.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut say = irc.try_clone().unwrap();
    let mut lines = BufReader::new(irc).lines();
    let mut expect = |needle: &str, say: &mut TcpStream| -> String {
        loop {
            let line = lines
                .next()
                .expect("connection open")
                .expect("a line in time");
            if let Some(token) = line.strip_prefix("PING ") {
                say.write_all(format!("PONG {token}\r\n").as_bytes())
                    .unwrap();
            } else if line.contains(needle) {
                return line;
            }
        }
    };
    say.write_all(b"NICK anna_irc\r\nUSER anna 0 * :anna\r\n")
        .unwrap();
    expect(" 001 ", &mut say);
    say.write_all(b"JOIN #support\r\n").unwrap();
    expect(" 366 ", &mut say);

    let bot = dir.path().join("bot.toml");
    std::fs::write(
        &bot,
        format!("server = \"127.0.0.1\"\nport = {irc_port}\nnick = \"deskbot\"\n[[channels]]\nname = \"#support\"\nagent = \"anna\"\n"),
    )
    .unwrap();
    let store = format!("redb:{}", dir.path().join("web.redb").display());
    let mut web = Command::new(env!("CARGO_BIN_EXE_ticketcore-web"))
        .args(["--listen", "127.0.0.1:0", "--store", &store, "--irc-bot"])
        .arg(&bot)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(web.stdout.take().unwrap()).lines();
    let _web = Running(web);
    let address = loop {
        let line = out
            .next()
            .expect("the server said where it serves")
            .unwrap();
        if let Some(a) = line.strip_prefix("serving the desk at http://") {
            break a.to_string();
        }
    };
    expect("deskbot", &mut say);

    let signed_in = post(
        &address,
        "/api/session",
        "",
        r#"{"login":"anna","password":"demo-anna-2026"}"#,
    );
    let cookie = signed_in
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = signed_in
        .split("\"csrf\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let created = post(
        &address,
        "/api/tickets",
        &format!("Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"),
        r#"{"queue":"Allgemein","title":"Announced from the web","text":"Hallo","customer":"kunde1"}"#,
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let said = expect("Announced from the web", &mut say);
    assert!(said.contains("[new]"), "{said}");
}
