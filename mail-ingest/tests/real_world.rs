//! What real mailers send, by class (issue 23): each test message is written here by hand and
//! stands for mail a club's, party's or university's desk meets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::setup;
use proptest::strategy::Strategy as _;
use ticketcore::Actor;
use ticketcore_mail::{Inbound, Outcome};

const LIMIT: u64 = 20_000_000;

fn parse(raw: &str) -> Inbound {
    Inbound::parse(raw.replace('\n', "\r\n").as_bytes(), LIMIT).unwrap()
}

/// multipart/alternative with an empty or blank text/plain part: the text comes from the
/// HTML part; a text part with words stays the text.
#[test]
fn an_empty_plain_alternative_reads_as_its_html() {
    let alternative = |plain: &str, encoding: &str| {
        format!(
            "From: Olga <olga@example.net>\nTo: info@example.org\nSubject: Drucker\n\
             Message-ID: <alt-{}@example.net>\nMIME-Version: 1.0\n\
             Content-Type: multipart/alternative; boundary=\"b1\"\n\n\
             --b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {encoding}\n\n{plain}\n\
             --b1\nContent-Type: text/html; charset=utf-8\n\n\
             <html><body><p>Hallo,</p><p>der <b>Drucker</b> im Büro ist defekt.</p></body></html>\n\
             --b1--\n",
            plain.len()
        )
    };
    // Empty, blank lines only, and a quoted-printable soft break that decodes to nothing.
    for (plain, encoding) in [
        ("", "7bit"),
        ("  \n\t\n", "7bit"),
        ("=\n", "quoted-printable"),
    ] {
        let parsed = parse(&alternative(plain, encoding));
        assert!(
            parsed.body.contains("Drucker") && parsed.body.contains("defekt"),
            "{plain:?}: {:?}",
            parsed.body
        );
        assert!(!parsed.body.contains("<b>"), "as text: {:?}", parsed.body);
        assert!(
            parsed.body.contains("Hallo,\n"),
            "paragraphs stay lines: {:?}",
            parsed.body
        );
    }
    // Nested in multipart/mixed with an attachment: the same, and the attachment kept.
    let mixed = "From: Olga <olga@example.net>\nTo: info@example.org\nSubject: Mit Anhang\n\
                 Message-ID: <mixed@example.net>\nMIME-Version: 1.0\n\
                 Content-Type: multipart/mixed; boundary=\"m\"\n\n\
                 --m\nContent-Type: multipart/alternative; boundary=\"a\"\n\n\
                 --a\nContent-Type: text/plain; charset=utf-8\n\n\n\
                 --a\nContent-Type: text/html; charset=utf-8\n\n<div>Siehe Foto vom <i>Kopierer</i>.</div>\n\
                 --a--\n\
                 --m\nContent-Type: application/pdf; name=\"foto.pdf\"\nContent-Disposition: attachment; filename=\"foto.pdf\"\n\
                 Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--m--\n";
    let parsed = parse(mixed);
    assert!(
        parsed.body.contains("Siehe Foto vom Kopierer."),
        "{:?}",
        parsed.body
    );
    assert_eq!(parsed.attachments.len(), 1);
    // Words in the plain part: they are the text, the HTML stays beside it.
    let worded = parse(&alternative("Der Drucker klemmt (Textteil).", "7bit"));
    assert_eq!(worded.body.trim(), "Der Drucker klemmt (Textteil).");
    assert!(worded.body_html.is_some());
}

/// A message without a usable From: the sender is Reply-To, then Sender, then Return-Path.
#[test]
fn without_a_usable_from_the_sender_is_whom_an_answer_goes_to() {
    let message = |headers: &str| {
        format!(
            "{headers}To: info@example.org\nSubject: Ohne Absender\nMessage-ID: <nofrom@example.net>\n\n\
             Bitte um Rückruf.\n"
        )
    };
    for (headers, expected) in [
        // No From at all.
        ("Reply-To: Rita <rita@example.net>\n", "rita@example.net"),
        // An empty From.
        ("From: \nReply-To: rita@example.net\n", "rita@example.net"),
        // A display name without an address; Sender says who sent it.
        (
            "From: Max Mustermann\nSender: Sekretariat <sek@example.net>\n",
            "sek@example.net",
        ),
        // An empty group; only the envelope knows.
        (
            "Return-Path: <bounce-42@lists.example.net>\nFrom: undisclosed-sender:;\n",
            "bounce-42@lists.example.net",
        ),
    ] {
        let parsed = parse(&message(headers));
        let from = parsed
            .from
            .as_ref()
            .unwrap_or_else(|| panic!("{headers:?}: no sender"));
        assert_eq!(from.address, expected, "{headers:?}");
        assert_eq!(
            parsed.reply_to.as_ref().unwrap().address,
            expected,
            "{headers:?}: answered there"
        );
    }
    // A usable From wins, and a null Return-Path names nobody.
    let parsed = parse(&message(
        "From: Olga <olga@example.net>\nReply-To: rita@example.net\n",
    ));
    assert_eq!(parsed.from.unwrap().address, "olga@example.net");
    let parsed = parse(&message("Return-Path: <>\n"));
    assert!(parsed.from.is_none());
}

#[tokio::test]
async fn the_article_and_the_customer_carry_the_fallback_sender() {
    let s = setup().await;
    let raw = "Reply-To: Rita Ruf <rita@example.net>\r\nTo: info@example.org\r\n\
               Subject: Bitte um Rueckruf\r\nMessage-ID: <rita-1@example.net>\r\n\r\nDanke.\r\n";
    let delivery = s.postmaster.deliver(raw.as_bytes()).await.unwrap();
    assert_eq!(delivery.outcome, Outcome::Created);
    let ticket = s.filed(&delivery).await;
    assert_eq!(ticket.customer.as_deref(), Some("rita@example.net"));
    let articles = s.desk.articles(&Actor::System, ticket.id).await.unwrap();
    assert!(
        articles[0].from.contains("rita@example.net"),
        "{:?}",
        articles[0].from
    );
    assert_eq!(articles[0].sender, ticketcore::article::Sender::Customer);
}

/// Attachment names as people expect them: an attached message by its subject, an inline
/// image by its Content-ID or Content-Location, else by its type; equal names told apart.
#[test]
fn attachments_are_named_as_people_expect() {
    let raw = "From: Olga <olga@example.net>\nTo: info@example.org\nSubject: Anhänge\n\
               Message-ID: <names@example.net>\nMIME-Version: 1.0\n\
               Content-Type: multipart/mixed; boundary=\"m\"\n\n\
               --m\nContent-Type: multipart/related; boundary=\"r\"\n\n\
               --r\nContent-Type: text/html; charset=utf-8\n\n<p>Logo: <img src=\"cid:image001.png@01D9.ABCD\"></p>\n\
               --r\nContent-Type: image/png\nContent-ID: <image001.png@01D9.ABCD>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n\
               --r\nContent-Type: image/gif\nContent-Location: http://intranet.example.org/img/logo.gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n\
               --r\nContent-Type: image/jpeg\nContent-ID: <part1.AbCdEf12.12345678@example.com>\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\n\
               --r\nContent-Type: image/jpeg\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\n/9j/4AAQSk\n\
               --r--\n\
               --m\nContent-Type: message/rfc822\n\n\
               From: Karla <karla@example.com>\nSubject: Re: Kündigung zum 31.12.\n\nIch kündige.\n\
               --m\nContent-Type: application/pdf; name=\"scan.pdf\"\nContent-Disposition: attachment; filename=\"scan.pdf\"\n\
               Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n\
               --m\nContent-Type: application/pdf; name=\"Scan.pdf\"\nContent-Disposition: attachment; filename=\"Scan.pdf\"\n\
               Content-Transfer-Encoding: base64\n\nJVBERi0xLjUK\n\
               --m\nContent-Type: application/pdf; name=\"scan.pdf\"\nContent-Disposition: attachment; filename=\"scan.pdf\"\n\
               Content-Transfer-Encoding: base64\n\nJVBERi0xLjYK\n\
               --m--\n";
    let parsed = parse(raw);
    let names: Vec<&str> = parsed.attachments.iter().map(|a| a.name.as_str()).collect();
    for expected in [
        "image001.png",
        "logo.gif",
        "part1.AbCdEf12.12345678.jpg",
        "Re_ Kündigung zum 31.12.eml",
        "scan.pdf",
        "Scan (2).pdf",
        "scan (3).pdf",
    ] {
        assert!(
            names.contains(&expected),
            "{expected:?} not among {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("attachment-") && n.ends_with(".jpg")),
        "an image with nothing to go by is named by its type: {names:?}"
    );
    let distinct: std::collections::HashSet<String> =
        names.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(
        distinct.len(),
        names.len(),
        "every attachment kept, told apart: {names:?}"
    );
}

/// A delivery-status report about mail this desk never sent (spam in its name, an old
/// address) is filed for an agent, not dropped: a ticket in the default queue, a bounce in its
/// history, no answer to the mailer daemon.
#[tokio::test]
async fn a_foreign_bounce_becomes_a_ticket_marked_as_a_bounce() {
    let s = setup().await;
    let dsn = "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n\
               To: info@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\
               Message-ID: <dsn-foreign-1@mx.example.net>\r\nAuto-Submitted: auto-replied\r\n\
               MIME-Version: 1.0\r\n\
               Content-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n\
               --d\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
               --d\r\nContent-Type: message/delivery-status\r\n\r\n\
               Reporting-MTA: dns; mx.example.net\r\n\r\n\
               Final-Recipient: rfc822; nobody@elsewhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
               --d\r\nContent-Type: text/rfc822-headers\r\n\r\n\
               From: info@example.org\r\nTo: nobody@elsewhere.example\r\n\
               Message-ID: <forged-in-our-name@example.org>\r\nSubject: Cheap pills\r\n\r\n\
               --d--\r\n";
    let d = s.postmaster.deliver(dsn.as_bytes()).await.unwrap();
    assert_eq!(d.outcome, Outcome::Created, "{d:?}");
    assert!(!d.auto_response);
    let ticket = s.filed(&d).await;
    let history = s.desk.history(&Actor::System, ticket.id).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.history_type()).collect();
    assert!(kinds.contains(&"Bounce"), "{kinds:?}");
    assert!(!kinds.contains(&"SendAutoReply"), "{kinds:?}");
    assert_eq!(
        ticket.customer, None,
        "the mailer daemon is nobody's customer"
    );
}

/// Addresses in RFC 5322's forms read the same wherever they stand: quoted local parts,
/// comments, groups, encoded names, names with commas or angle brackets in quotes.
#[test]
fn addresses_in_every_form_read_the_same() {
    for (header, address, name) in [
        ("\"john doe\"@example.com", "\"john doe\"@example.com", None),
        (
            "\"Doe, John\" <\"john doe\"@example.com>",
            "\"john doe\"@example.com",
            Some("Doe, John"),
        ),
        ("\"john.doe\"@example.com", "john.doe@example.com", None),
        (
            "john@example.com (John Doe)",
            "john@example.com",
            Some("John Doe"),
        ),
        (
            "=?utf-8?q?M=C3=BCller=2C_Hans?= <hans@example.com>",
            "hans@example.com",
            Some("Müller, Hans"),
        ),
        (
            "\"a <b> c\" <abc@example.com>",
            "abc@example.com",
            Some("a <b> c"),
        ),
        (
            "Vorstand: anna@example.com, bernd@example.com;",
            "anna@example.com",
            None,
        ),
    ] {
        let parsed = parse(&format!(
            "From: {header}\nTo: info@example.org\nSubject: x\n\nHallo\n"
        ));
        let from = parsed.from.unwrap_or_else(|| panic!("{header}: no sender"));
        assert_eq!(from.address, address, "{header}");
        assert_eq!(from.name.as_deref(), name, "{header}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// An address written by mail-builder reads back as the same address and name.
    #[test]
    fn what_mail_builder_writes_reads_back(
        local in "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8})?|[a-z]{1,6} [a-z]{1,6}",
        domain in "[a-z]{1,10}\\.(org|de|example)",
        name in proptest::option::of("[A-Za-zäöüÄÖÜß][A-Za-zäöüÄÖÜß ,.<>()'-]{0,20}[A-Za-zäöüß]"),
    ) {
        let address = format!("{}@{domain}", ticketcore_mail::inbound::quoted_local(&local));
        let builder = mail_builder::MessageBuilder::new()
            .to("info@example.org")
            .subject("Hallo")
            .text_body("Text");
        let builder = match &name {
            Some(n) => builder.from((n.as_str(), address.as_str())),
            None => builder.from(address.as_str()),
        };
        let raw = builder.write_to_string().unwrap();
        let parsed = Inbound::parse(raw.as_bytes(), LIMIT).unwrap();
        let from = parsed.from.unwrap();
        proptest::prop_assert_eq!(&from.address, &address, "{}", raw);
        proptest::prop_assert_eq!(from.name.as_deref(), name.as_deref().map(str::trim), "{}", raw);
    }
}

/// A message in a legacy charset, as its mailer wrote it: `text` (with `{SUBJECT}`, `{NAME}`,
/// `{FILE}` and `{BODY}` where the legacy words go) with those words encoded in `charset`
/// and the rest ASCII, lines ending in CRLF.
fn legacy(charset: &str, text: &str, words: &[(&str, &str)]) -> Vec<u8> {
    let charset = encoding_rs::Encoding::for_label(charset.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let text = text.replace('\n', "\r\n");
    let mut rest = text.as_str();
    while let Some(start) = rest.find('{') {
        let end = start + rest[start..].find('}').unwrap();
        raw.extend_from_slice(&rest.as_bytes()[..start]);
        let word = words
            .iter()
            .find(|(key, _)| *key == &rest[start + 1..end])
            .unwrap()
            .1;
        let (bytes, _, unmappable) = charset.encode(word);
        assert!(!unmappable, "{word} in {}", charset.name());
        raw.extend_from_slice(&bytes);
        rest = &rest[end + 1..];
    }
    raw.extend_from_slice(rest.as_bytes());
    raw
}

/// Raw 8-bit header fields, attachment names and bodies without a charset: read with the
/// charset the message declares elsewhere, else the one detected, never replaced.
#[test]
fn legacy_charsets_come_out_right() {
    struct Case {
        what: &'static str,
        charset: &'static str,
        raw: &'static str,
        subject: &'static str,
        name: &'static str,
        body: &'static str,
        file: &'static str,
    }
    let cases = [
        // Old Outlook: raw ISO-8859-1 Subject, name and file name; the body part declares it.
        Case {
            what: "ISO-8859-1, declared by the body",
            charset: "iso-8859-1",
            raw: "From: {NAME} <juergen@verein.example.de>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <latin1@verein.example.de>\nMIME-Version: 1.0\n\
                  Content-Type: multipart/mixed; boundary=\"m\"\n\n\
                  --m\nContent-Type: text/plain; charset=\"iso-8859-1\"\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n\
                  --m\nContent-Type: application/pdf; name=\"{FILE}\"\n\
                  Content-Disposition: attachment; filename=\"{FILE}\"\nContent-Transfer-Encoding: base64\n\n\
                  JVBERi0xLjQK\n--m--\n",
            subject: "Änderung der Bankverbindung – nein: Grüße aus Köln",
            name: "Jürgen Weiß",
            body: "Sehr geehrte Damen und Herren, anbei die Überweisung für März.",
            file: "Überweisung März.pdf",
        },
        // ISO-8859-15 declared: its € (0xA4) is ¤ in ISO-8859-1 and windows-1252, which a
        // detector would guess; the declaration wins.
        Case {
            what: "ISO-8859-15, declared by the message",
            charset: "iso-8859-15",
            raw: "From: {NAME} <kasse@verein.example.de>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <latin9@verein.example.de>\nMIME-Version: 1.0\n\
                  Content-Type: text/plain; charset=ISO-8859-15\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n",
            subject: "Beitrag 50 € für Öffentlichkeitsarbeit",
            name: "Kassenwart Böhm",
            body: "Der Jahresbeitrag beträgt 50 €, fällig zum Quartalsende.",
            file: "",
        },
        // windows-1252 with its quotes and dash, declared nowhere: detected.
        Case {
            what: "windows-1252, undeclared",
            charset: "windows-1252",
            raw: "From: {NAME} <m.schaefer@example.de>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <cp1252@example.de>\nMIME-Version: 1.0\n\
                  Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n",
            subject: "Rückfrage zur „neuen“ Satzung – dringend",
            name: "Martina Schäfer",
            body: "Guten Tag, könnten Sie mir die „neue“ Satzung schicken? Vielen Dank – M. Schäfer",
            file: "",
        },
        // KOI8-R declared by the body; raw name and subject.
        Case {
            what: "KOI8-R, declared by the body",
            charset: "koi8-r",
            raw: "From: {NAME} <ivan@uni.example.ru>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <koi8@uni.example.ru>\nMIME-Version: 1.0\n\
                  Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n",
            subject: "Заявление на место в общежитии",
            name: "Иван Петров",
            body: "Здравствуйте! Прошу предоставить мне место в общежитии на осенний семестр.",
            file: "",
        },
        // KOI8-R declared nowhere: detected (the sender's .ru helps).
        Case {
            what: "KOI8-R, undeclared",
            charset: "koi8-r",
            raw: "From: {NAME} <olga@example.ru>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <koi8-bare@example.ru>\nMIME-Version: 1.0\n\
                  Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n",
            subject: "Вопрос о расписании экзаменов",
            name: "Ольга Смирнова",
            body: "Добрый день! Когда будет опубликовано расписание экзаменов по математике?",
            file: "",
        },
        // GBK under its common label gb2312, a raw GBK attachment name.
        Case {
            what: "GBK, declared as gb2312 by the body",
            charset: "gbk",
            raw: "From: {NAME} <wang@example.cn>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <gbk@example.cn>\nMIME-Version: 1.0\n\
                  Content-Type: multipart/mixed; boundary=\"m\"\n\n\
                  --m\nContent-Type: text/plain; charset=gb2312\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n\
                  --m\nContent-Type: application/msword\n\
                  Content-Disposition: attachment; filename=\"{FILE}\"\nContent-Transfer-Encoding: base64\n\n\
                  0M8R4KGxGuE=\n--m--\n",
            subject: "关于会员资格的问题",
            name: "王小明",
            body: "您好，我想了解一下申请会员资格需要哪些材料。谢谢！",
            file: "会议记录.doc",
        },
        // Shift_JIS declared nowhere, the body in base64: detected.
        Case {
            what: "Shift_JIS, undeclared",
            charset: "shift_jis",
            raw: "From: {NAME} <tanaka@example.co.jp>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <sjis@example.co.jp>\nMIME-Version: 1.0\n\
                  Content-Type: multipart/mixed; boundary=\"m\"\n\n\
                  --m\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n\
                  --m\nContent-Type: application/pdf; name=\"{FILE}\"\nContent-Transfer-Encoding: base64\n\n\
                  JVBERi0xLjQK\n--m--\n",
            subject: "お問い合わせ：会員登録について",
            name: "田中太郎",
            body: "お世話になっております。会員登録の手続きについて教えていただけますでしょうか。",
            file: "申込書.pdf",
        },
        // ISO-2022-JP, the usual Japanese mail charset, escapes raw in the Subject: declared.
        Case {
            what: "ISO-2022-JP, declared by the body",
            charset: "iso-2022-jp",
            raw: "From: {NAME} <suzuki@example.jp>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <jis@example.jp>\nMIME-Version: 1.0\n\
                  Content-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n{BODY}\n",
            subject: "会議の日程について",
            name: "鈴木花子",
            body: "来週の会議の日程を確認させてください。よろしくお願いいたします。",
            file: "",
        },
        // ISO-2022-JP declared nowhere: detected from its escapes.
        Case {
            what: "ISO-2022-JP, undeclared",
            charset: "iso-2022-jp",
            raw: "From: {NAME} <sato@example.jp>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <jis-bare@example.jp>\n\n{BODY}\n",
            subject: "資料の送付のお願い",
            name: "佐藤一郎",
            body: "先日の説明会の資料を送っていただけますか。",
            file: "",
        },
        // A multipart that declares the charset for its parts, a text part that does not.
        Case {
            what: "KOI8-R, declared by the enclosing multipart",
            charset: "koi8-r",
            raw: "From: {NAME} <dekanat@uni.example.org>\nTo: info@example.org\nSubject: {SUBJECT}\n\
                  Message-ID: <koi8-parent@uni.example.org>\nMIME-Version: 1.0\n\
                  Content-Type: multipart/mixed; charset=\"koi8-r\"; boundary=\"m\"\n\n\
                  --m\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n--m--\n",
            subject: "Стипендия",
            name: "Деканат",
            body: "Стипендия будет выплачена десятого числа.",
            file: "",
        },
    ];
    for case in cases {
        let raw = legacy(
            case.charset,
            case.raw,
            &[
                ("SUBJECT", case.subject),
                ("NAME", case.name),
                ("BODY", case.body),
                ("FILE", case.file),
            ],
        );
        let parsed = Inbound::parse(&raw, LIMIT).unwrap();
        let what = case.what;
        assert_eq!(parsed.subject, case.subject, "{what}: subject");
        assert_eq!(
            parsed.from.as_ref().and_then(|f| f.name.as_deref()),
            Some(case.name),
            "{what}: name"
        );
        assert_eq!(parsed.body.trim(), case.body, "{what}: body");
        let names: Vec<&str> = parsed.attachments.iter().map(|a| a.name.as_str()).collect();
        if case.file.is_empty() {
            assert!(names.is_empty(), "{what}: {names:?}");
        } else {
            assert_eq!(names, [case.file], "{what}: attachment name");
        }
        assert!(
            !format!("{:?}", parsed.headers).contains('\u{fffd}'),
            "{what}: {:?}",
            parsed.headers
        );
        // The attachment's bytes are what was sent.
        if case.file.ends_with(".pdf") {
            assert!(
                parsed.attachments[0].data.starts_with(b"%PDF-1.4"),
                "{what}"
            );
        }
    }
}

/// What is UTF-8 stays as it is: raw UTF-8 header fields (RFC 6532) and a body that holds a
/// replacement character of its own are not taken for a legacy charset.
#[test]
fn utf8_mail_is_left_as_it_is() {
    let raw = "From: Zoë Ørsted <zoe@example.dk>\nTo: info@example.org\nSubject: Grüße – 你好 – こんにちは\n\
               Message-ID: <utf8@example.dk>\nMIME-Version: 1.0\nContent-Type: text/plain\n\n\
               Das Zeichen \u{fffd} steht für Unlesbares.\n";
    let parsed = parse(raw);
    assert_eq!(parsed.subject, "Grüße – 你好 – こんにちは");
    assert_eq!(parsed.from.unwrap().name.as_deref(), Some("Zoë Ørsted"));
    assert_eq!(
        parsed.body.trim(),
        "Das Zeichen \u{fffd} steht für Unlesbares."
    );
}

/// Through the PostMaster: the ticket's title, the article's text and sender and the
/// attachment's name as the customer wrote them.
#[tokio::test]
async fn a_legacy_charset_reaches_the_ticket_intact() {
    let s = setup().await;
    let raw = legacy(
        "shift_jis",
        "From: {NAME} <yamada@example.co.jp>\nTo: info@example.org\nSubject: {SUBJECT}\n\
         Message-ID: <sjis-ticket@example.co.jp>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"m\"\n\n\
         --m\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n{BODY}\n\
         --m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"{FILE}\"\n\
         Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--m--\n",
        &[
            ("NAME", "山田花子"),
            ("SUBJECT", "会費の支払い方法について"),
            (
                "BODY",
                "会費の支払い方法を教えてください。銀行振込は可能でしょうか。",
            ),
            ("FILE", "振込明細.pdf"),
        ],
    );
    let delivery = s.postmaster.deliver(&raw).await.unwrap();
    assert_eq!(delivery.outcome, Outcome::Created);
    let ticket = s.filed(&delivery).await;
    assert_eq!(ticket.title, "会費の支払い方法について");
    let articles = s.desk.articles(&Actor::System, ticket.id).await.unwrap();
    assert_eq!(articles[0].from, "山田花子 <yamada@example.co.jp>");
    assert!(
        articles[0].body.contains("銀行振込は可能でしょうか"),
        "{:?}",
        articles[0].body
    );
    assert_eq!(articles[0].attachments[0].name, "振込明細.pdf");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Whatever bytes a mailer puts raw into a subject, a file name and a body, under
    /// whatever charset label or none, the message is read; where the declared charset reads
    /// every byte (ISO-8859-1 does), the subject holds no replacement character.
    #[test]
    fn raw_bytes_anywhere_are_read(
        subject in proptest::collection::vec(
            proptest::prelude::any::<u8>().prop_filter("one line", |b| !b"\r\n\0".contains(b)),
            1..40,
        ),
        file in proptest::collection::vec(
            proptest::prelude::any::<u8>().prop_filter("a value", |b| !b"\r\n\0\"".contains(b)),
            1..20,
        ),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        label in proptest::prop_oneof![
            proptest::strategy::Just(""),
            proptest::strategy::Just("iso-8859-1"),
            proptest::strategy::Just("utf-8"),
            proptest::strategy::Just("shift_jis"),
            proptest::strategy::Just("iso-2022-jp"),
            proptest::strategy::Just("x-unknown"),
        ],
    ) {
        let charset = if label.is_empty() { String::new() } else { format!("; charset={label}") };
        let mut raw = b"From: k@example.org\r\nTo: info@example.org\r\nSubject: ".to_vec();
        raw.extend_from_slice(&subject);
        raw.extend_from_slice(
            format!(
                "\r\nMessage-ID: <p@example.org>\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
                 --m\r\nContent-Type: text/plain{charset}\r\n\r\n"
            )
            .as_bytes(),
        );
        raw.extend_from_slice(&body);
        raw.extend_from_slice(b"\r\n--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"");
        raw.extend_from_slice(&file);
        raw.extend_from_slice(b"\"\r\n\r\n%PDF\r\n--m--\r\n");
        let parsed = Inbound::parse(&raw, LIMIT);
        proptest::prop_assert!(parsed.is_ok(), "{parsed:?}");
        if label == "iso-8859-1" {
            let subject = parsed.unwrap().subject;
            proptest::prop_assert!(!subject.contains('\u{fffd}'), "{subject:?}");
        }
    }
}
