//! Mailboxes as sources: a Maildir message leaves `new/` only once delivered; an mbox import
//! is idempotent, so running it again takes nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{mail, setup};
use ticketcore_mail::source::{Handled, Maildir, Mbox, deliver_maildir, deliver_mbox};
use ticketcore_mail::{Outcome, Postmaster};

/// Imports the mbox at `path`, keeping every result.
async fn import(
    postmaster: Arc<Postmaster>,
    path: &std::path::Path,
    in_flight: usize,
) -> Vec<Handled> {
    let (mbox, _) = Mbox::open(path).unwrap();
    let mut handled = Vec::new();
    let count = deliver_mbox(postmaster, mbox, in_flight, |h| handled.push(h))
        .await
        .unwrap();
    assert_eq!(count, handled.len());
    handled
}

#[tokio::test]
async fn maildir_messages_move_to_cur_once_delivered() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for i in 0..3 {
        let raw = mail(
            "k@example.org",
            "support@desk.example",
            &format!("m{i}"),
            &format!("md{i}@k"),
            "",
        );
        std::fs::write(dir.path().join("new").join(format!("100{i}.host")), raw).unwrap();
    }
    std::fs::write(dir.path().join("new").join("1009.host"), b"").unwrap();
    let maildir = Maildir::open(dir.path()).unwrap();
    assert_eq!(maildir.len(), 4);
    let mut handled = Vec::new();
    let postmaster = Arc::new(Postmaster::new(s.desk.clone()));
    let count = deliver_maildir(postmaster, maildir, 2, |h| handled.push(h))
        .await
        .unwrap();
    assert_eq!((count, handled.len()), (4, 4));
    assert!(
        handled.iter().all(|h| h.source.contains("/cur/")),
        "{handled:?}"
    );
    assert_eq!(handled.iter().filter(|h| h.result.is_ok()).count(), 3);
    assert_eq!(
        std::fs::read_dir(dir.path().join("new")).unwrap().count(),
        0
    );
    let mut cur: Vec<String> = std::fs::read_dir(dir.path().join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cur.sort();
    assert_eq!(
        cur,
        [
            "1000.host:2,S",
            "1001.host:2,S",
            "1002.host:2,S",
            "1009.host:2,F"
        ]
    );
}

#[tokio::test]
async fn an_mbox_import_run_twice_takes_nothing_twice() {
    let s = setup().await;
    let postmaster = Arc::new(Postmaster::new(s.desk.clone()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.mbox");
    let mut mbox = Vec::new();
    for i in 0..40 {
        mbox.extend_from_slice(
            format!("From k{i}@example.org Mon Mar  2 09:00:00 2026\n").as_bytes(),
        );
        let body = mail(
            &format!("k{i}@example.org"),
            "support@desk.example",
            &format!("import {i}"),
            &format!("mb{i}@k"),
            "",
        );
        mbox.extend_from_slice(&body);
        mbox.extend_from_slice(b"\n");
    }
    std::fs::write(&path, &mbox).unwrap();
    let first = import(postmaster.clone(), &path, 8).await;
    assert_eq!(first.len(), 40);
    assert!(
        first
            .iter()
            .all(|h| matches!(&h.result, Ok(d) if d.outcome == Outcome::Created))
    );
    let again = import(postmaster, &path, 8).await;
    assert!(
        again
            .iter()
            .all(|h| matches!(&h.result, Ok(d) if d.outcome == Outcome::Duplicate))
    );
    let page = s
        .store
        .query(&ticketcore::TicketQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.tickets.len(), 40);
}

/// An archive keeps conversations together: a reply right behind the message it answers,
/// both in the same window of messages in flight, still follows up on that message's ticket,
/// and so does a reply to that reply; the messages behind a waiting reply go on meanwhile.
/// Two replies that claim to answer each other are both taken in, not left waiting.
/// (On redb, whose commits really wait for the writer thread, so deliveries interleave.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mbox_reply_waits_for_the_message_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.mbox");
    let mut mbox = Vec::new();
    let mut add = |from: &str, subject: &str, id: &str, answers: &[&str]| {
        let refs: Vec<String> = answers.iter().map(|a| format!("<{a}>")).collect();
        let headers = match refs.last() {
            Some(parent) => format!(
                "In-Reply-To: {parent}\r\nReferences: {}\r\n",
                refs.join(" ")
            ),
            None => String::new(),
        };
        mbox.extend_from_slice(format!("From {from} Mon Mar  2 09:00:00 2026\n").as_bytes());
        mbox.extend_from_slice(&mail(from, "support@desk.example", subject, id, &headers));
        mbox.extend_from_slice(b"\n");
    };
    add("p@example.org", "a pair's parent", "pair-p@k", &[]);
    add(
        "x@example.org",
        "one of a pair",
        "pair-x@k",
        &["pair-y@k", "pair-p@k"],
    );
    add(
        "y@example.org",
        "other of a pair",
        "pair-y@k",
        &["pair-x@k"],
    );
    for i in 0..20 {
        let from = format!("t{i}@example.org");
        let (original, reply) = (format!("t{i}@k"), format!("t{i}-re@k"));
        add(&from, &format!("thread {i}"), &original, &[]);
        add(&from, &format!("Re: thread {i}"), &reply, &[&original]);
        add(
            &from,
            &format!("Re: Re: thread {i}"),
            &format!("t{i}-re-re@k"),
            &[&original, &reply],
        );
    }
    std::fs::write(&path, &mbox).unwrap();
    for in_flight in [2, 16] {
        let store = Arc::new(ticketcore_redb::RedbStore::in_memory().unwrap());
        let s = common::setup_on(store, common::CONFIG).await;
        let postmaster = Arc::new(Postmaster::new(s.desk.clone()));
        let handled = import(postmaster, &path, in_flight).await;
        let outcomes = |o: Outcome| {
            handled
                .iter()
                .filter(|h| matches!(&h.result, Ok(d) if d.outcome == o))
                .count()
        };
        assert_eq!(handled.len(), 63, "{in_flight} in flight");
        // The pair may each follow up on the parent, or one open a ticket.
        let created = outcomes(Outcome::Created);
        assert!((21..=22).contains(&created), "{created} created");
        assert_eq!(created + outcomes(Outcome::FollowUp), 63);
        let threads = handled
            .iter()
            .filter(|h| !["#1", "#2", "#3"].iter().any(|n| h.source.ends_with(n)))
            .filter(|h| matches!(&h.result, Ok(d) if d.outcome == Outcome::FollowUp))
            .count();
        assert_eq!(
            threads, 40,
            "{in_flight} in flight: every reply followed up"
        );
    }
}

/// Bytes made as they are read: an archive that never is in memory as a whole.
struct Generated<I> {
    messages: I,
    buffer: Vec<u8>,
    at: usize,
    /// How many messages were made so far.
    made: Arc<std::sync::atomic::AtomicUsize>,
}

impl<I: Iterator<Item = Vec<u8>>> std::io::Read for Generated<I> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buffer.len() {
            let Some(next) = self.messages.next() else {
                return Ok(0);
            };
            self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.buffer = next;
            self.at = 0;
        }
        let n = out.len().min(self.buffer.len() - self.at);
        out[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// An archive is read as it is delivered and each result handed on as it finishes: however
/// long the archive, no more of it is read ahead of what is done than the window (messages
/// in flight and replies waiting aside for their parents).
#[tokio::test]
async fn an_mbox_is_read_no_further_ahead_than_the_window() {
    const MESSAGES: usize = 1_500;
    const WINDOW: usize = 8;
    let s = setup().await;
    let postmaster = Arc::new(Postmaster::new(s.desk.clone()));
    let made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let messages = (0..MESSAGES).map(|i| {
        // Every third a reply to the one before, so replies wait aside too.
        let headers = if i % 3 == 2 {
            format!("In-Reply-To: <w{}@k>\r\n", i - 1)
        } else {
            String::new()
        };
        let mut message = b"From k@example.org Mon Mar  2 09:00:00 2026\n".to_vec();
        message.extend(mail(
            &format!("k{}@example.org", i % 50),
            "support@desk.example",
            &format!("stream {i}"),
            &format!("w{i}@k"),
            &headers,
        ));
        message.extend_from_slice(b"\n");
        message
    });
    let reader = Generated {
        messages,
        buffer: Vec::new(),
        at: 0,
        made: made.clone(),
    };
    let mbox = Mbox::new(std::io::BufReader::with_capacity(512, reader), "stream");
    let (mut done, mut furthest) = (0, 0);
    let count = deliver_mbox(postmaster, mbox, WINDOW, |h| {
        assert!(h.result.is_ok(), "{h:?}");
        done += 1;
        let ahead = made.load(std::sync::atomic::Ordering::SeqCst) - done;
        furthest = furthest.max(ahead);
    })
    .await
    .unwrap();
    assert_eq!((count, done), (MESSAGES, MESSAGES));
    // In flight, aside, the one being split off and the one whose From line ended it.
    assert!(furthest <= 2 * WINDOW + 2, "read {furthest} ahead");
    assert!(furthest >= WINDOW, "the window was used: {furthest}");
}

/// A read error part way through an archive fails the import with that error, after what
/// was read before it is delivered.
#[tokio::test]
async fn an_mbox_read_error_fails_the_import() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk gone"));
            }
            self.0 -= 1;
            let message = b"From k@example.org Mon Mar  2 09:00:00 2026\nFrom: k@example.org\nTo: support@desk.example\nSubject: x\n\nbody\n\n";
            let n = out.len().min(message.len());
            out[..n].copy_from_slice(&message[..n]);
            Ok(n)
        }
    }
    let s = setup().await;
    let postmaster = Arc::new(Postmaster::new(s.desk.clone()));
    let mbox = Mbox::new(
        std::io::BufReader::with_capacity(4096, Failing(3)),
        "failing",
    );
    let mut done = 0;
    let error = deliver_mbox(postmaster, mbox, 4, |_| done += 1)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("disk gone"), "{error}");
    assert_eq!(done, 2, "the messages before the error were delivered");
}
