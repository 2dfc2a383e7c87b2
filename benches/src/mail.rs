//! The mail corpus the mail benchmarks deliver: generated requests and follow-ups to a desk
//! with auto-responses, one message at a time so that an archive of any size can be written.

/// The mail desk: two queues by address, auto-responses, a spam filter.
pub const CONFIG: &str = r#"
[numbers]
generator = "DateChecksum"
block = 64
[[groups]]
name = "support"
[[queues]]
name = "Support"
group = "support"
address = "support@desk.example"
auto_response = { new_ticket = "received", follow_up = "follow-up" }
[[queues]]
name = "Sales"
group = "support"
address = "sales@desk.example"
[[templates]]
name = "received"
subject = "[{{ticket.hook}}] Re: {{ticket.title}}"
body = "Dear {{customer.name}}, we filed your request as {{ticket.number}}."
[[templates]]
name = "follow-up"
subject = "[{{ticket.hook}}] Re: {{ticket.title}}"
body = "We added your message to {{ticket.number}}."
[[filters]]
name = "spam"
match = { "X-Spam-Flag" = "(?i)^yes$" }
ignore = true
[mail]
default_queue = "Support"
auto_responses_per_sender_per_day = 1000
"#;

/// Message `i` of run `run`: three in four new requests (a quarter with an attachment), one
/// in four a follow-up answering the one before by In-Reply-To. `run` keeps ids apart across
/// runs.
pub fn message(run: usize, i: usize) -> Vec<u8> {
    let to = if i.is_multiple_of(3) {
        "sales@desk.example"
    } else {
        "support@desk.example"
    };
    let reply = if i % 4 == 3 {
        format!(
            "In-Reply-To: <r{run}m{}@bench.example>\r\nSubject: Re: request {}\r\n",
            i - 1,
            i - 1
        )
    } else {
        format!(
            "Subject: request {i}: the printer on floor {} is broken\r\n",
            i % 7
        )
    };
    let attachment = if i % 4 == 1 {
        "--b\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK\r\n"
    } else {
        ""
    };
    format!(
        "From: Customer {i} <c{}@example.org>\r\nTo: {to}\r\n{reply}\
         Message-ID: <r{run}m{i}@bench.example>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         Hello,\r\nthe printer shows error E{i}. Gr=C3=BC=C3=9Fe\r\n{attachment}--b--\r\n",
        i % 500
    )
    .into_bytes()
}

/// A run's first `n` messages.
pub fn corpus(run: usize, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| message(run, i)).collect()
}
