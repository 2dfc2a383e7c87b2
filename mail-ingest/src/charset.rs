//! Legacy charsets: mail whose bytes do not say how to read them. Old Outlook versions and
//! Japanese or Chinese mailers still write header fields (subjects, names, attachment names)
//! as raw 8-bit bytes without RFC 2047 words, and some parts declare no charset for an 8-bit
//! body; mail-parser reads both as UTF-8 and replaces what is not. Such a message is
//! rewritten into one that says what it means, and read again: its header blocks decoded with
//! the charset the message declares elsewhere (the part's own Content-Type, an enclosing
//! multipart's, else any part's), failing that the one chardetng (Firefox's detector) guesses,
//! and a charset named on the parts that lacked one. Only what no charset reads is replaced.
//! Mail in UTF-8 or ASCII, nearly all of it, is only checked, never copied.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding as TransferEncoding, Message, MessagePart, MimeHeaders, PartType};

/// `message` rewritten so that it reads right, or None when it already does.
pub(crate) fn relabelled(message: &Message<'_>) -> Option<Vec<u8>> {
    let raw = message.raw_message.as_ref();
    let mut edits = Vec::new();
    collect(message, raw, &[], &mut edits);
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|edit: &Edit| edit.start);
    let mut fixed = Vec::with_capacity(raw.len() + 64);
    let mut at = 0;
    for edit in edits {
        if edit.start < at {
            continue;
        }
        fixed.extend_from_slice(raw.get(at..edit.start)?);
        fixed.extend_from_slice(edit.text.as_bytes());
        at = edit.end;
    }
    fixed.extend_from_slice(raw.get(at..)?);
    Some(fixed)
}

/// A header block to put in place of `raw[start..end]`.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// What mail-parser misread of a part: its header block, the body of a text part without a
/// charset (decoded from its transfer encoding).
struct Misread<'a> {
    head: Option<&'a [u8]>,
    body: Option<Vec<u8>>,
}

/// The edits `message` needs; `inherited` are the charsets its enclosing message declares.
/// An attached message that is not transfer-encoded lies in the same bytes (mail-parser reads
/// it in place), so its parts are edited there too.
fn collect(
    message: &Message<'_>,
    raw: &[u8],
    inherited: &[&'static Encoding],
    edits: &mut Vec<Edit>,
) {
    let head = |part: &MessagePart<'_>| {
        raw.get(part.offset_header as usize..part.offset_body as usize)
            .filter(|head| misreads(head))
    };
    let nested = |part: &MessagePart<'_>| matches!(part.body, PartType::Message(_));
    // Nearly all mail: nothing misread and nothing attached to look into.
    if message
        .parts
        .iter()
        .all(|part| head(part).is_none() && !unlabelled(part) && !nested(part))
    {
        return;
    }
    let misread: Vec<Misread<'_>> = message
        .parts
        .iter()
        .map(|part| Misread {
            head: head(part),
            body: unlabelled_body(part, raw).filter(|body| misreads(body)),
        })
        .collect();
    let misread_any = misread.iter().any(|m| m.head.is_some() || m.body.is_some());
    let anywhere: Vec<&'static Encoding> = message
        .parts
        .iter()
        .filter_map(declared)
        .chain(inherited.iter().copied())
        .collect();
    if misread_any {
        // One mailer wrote the message: the detector reads all it misread at once, which
        // tells more than a file name of three characters would alone.
        let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
        for Misread { head, body } in &misread {
            detector.feed(head.unwrap_or_default(), false);
            detector.feed(body.as_deref().unwrap_or_default(), false);
        }
        detector.feed(&[], true);
        let detected = detector.guess(top_level_domain(message).as_deref(), Utf8Detection::Allow);
        let parents = parents(message);
        for (i, (part, Misread { head, body })) in message.parts.iter().zip(&misread).enumerate() {
            if head.is_none() && body.is_none() {
                continue;
            }
            // The part's own charset, its enclosing multiparts', then any the message declares.
            let mut declared_here: Vec<&'static Encoding> =
                std::iter::successors(Some(i), |p| parents.get(*p).copied().flatten())
                    .filter_map(|p| message.parts.get(p).and_then(declared))
                    .collect();
            declared_here.extend(&anywhere);
            let (start, end) = (part.offset_header as usize, part.offset_body as usize);
            let mut text = match head {
                Some(head) => choose(head, &declared_here, detected)
                    .decode_without_bom_handling(head)
                    .0
                    .into_owned(),
                None => {
                    String::from_utf8_lossy(raw.get(start..end).unwrap_or_default()).into_owned()
                }
            };
            if let Some(body) = body {
                let charset = choose(body, &declared_here, detected);
                if charset != encoding_rs::UTF_8 {
                    text = with_charset(&text, charset.name());
                }
            }
            edits.push(Edit { start, end, text });
        }
    }
    for part in &message.parts {
        if let PartType::Message(nested) = &part.body
            && std::ptr::eq(nested.raw_message.as_ref(), raw)
        {
            collect(nested, raw, &anywhere, edits);
        }
    }
}

/// Each part's enclosing multipart, by index.
fn parents(message: &Message<'_>) -> Vec<Option<usize>> {
    let mut parents = vec![None; message.parts.len()];
    for (i, part) in message.parts.iter().enumerate() {
        if let PartType::Multipart(children) = &part.body {
            for &child in children {
                if let Some(slot) = parents.get_mut(child as usize)
                    && child as usize != i
                {
                    *slot = Some(i);
                }
            }
        }
    }
    parents
}

/// The charset a part's Content-Type declares, if it is one to read 8-bit bytes with: US-ASCII
/// declares none (8-bit bytes under it are someone's legacy charset).
fn declared(part: &MessagePart<'_>) -> Option<&'static Encoding> {
    let label = part.content_type()?.attribute("charset")?.trim();
    if ["us-ascii", "ascii"]
        .iter()
        .any(|a| label.eq_ignore_ascii_case(a))
    {
        return None;
    }
    Encoding::for_label(label.as_bytes())
}

/// Bytes mail-parser would misread as UTF-8: not UTF-8, or ISO-2022-JP's escapes, which are
/// ASCII.
fn misreads(bytes: &[u8]) -> bool {
    (!bytes.is_ascii() && std::str::from_utf8(bytes).is_err()) || bytes.contains(&0x1b)
}

/// Whether `part` is text without a charset that mail-parser may have misread (it replaced
/// bytes, or kept ISO-2022-JP's escapes).
fn unlabelled(part: &MessagePart<'_>) -> bool {
    let text = match &part.body {
        PartType::Text(text) | PartType::Html(text) => text,
        _ => return false,
    };
    let has_charset = part
        .content_type()
        .is_some_and(|ct| ct.attribute("charset").is_some());
    !has_charset && (text.contains('\u{fffd}') || text.contains('\u{1b}'))
}

/// The body of an [`unlabelled`] part, decoded from its transfer encoding.
fn unlabelled_body(part: &MessagePart<'_>, raw: &[u8]) -> Option<Vec<u8>> {
    if !unlabelled(part) {
        return None;
    }
    let body = raw.get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        TransferEncoding::Base64 => base64_decode(body),
        TransferEncoding::QuotedPrintable => quoted_printable_decode(body),
        _ => Some(body.to_vec()),
    }
}

/// The charset that reads `bytes`: the first declared one that reads them without error (an
/// ASCII-compatible one reads ISO-2022-JP's escapes without error, but wrongly), else the
/// detected one, which reads anything, replacing what it cannot.
fn choose(
    bytes: &[u8],
    declared: &[&'static Encoding],
    detected: &'static Encoding,
) -> &'static Encoding {
    let escapes_only = std::str::from_utf8(bytes).is_ok();
    let reads = |charset: &&'static Encoding| {
        !(escapes_only && charset.is_ascii_compatible())
            && charset
                .decode_without_bom_handling_and_without_replacement(bytes)
                .is_some()
    };
    declared.iter().copied().find(reads).unwrap_or(detected)
}

/// The sender's top-level domain, a hint for the detector (`.jp`, `.ru`, `.de` …), if it is
/// one chardetng takes: lower-case ASCII letters, digits and hyphens.
fn top_level_domain(message: &Message<'_>) -> Option<Vec<u8>> {
    let address = message.from()?.first()?.address()?;
    let tld = address.rsplit(['.', '@']).next()?.to_ascii_lowercase();
    let plain = !tld.is_empty()
        && tld
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plain.then(|| tld.into_bytes())
}

/// A header block whose Content-Type names `charset`: the field gets the parameter at its
/// end (after its continuation lines), or a text/plain field, what a part without one is, is
/// put first.
fn with_charset(head: &str, charset: &str) -> String {
    let lines: Vec<&str> = head.split_inclusive('\n').collect();
    let continues = |line: &&str| line.starts_with([' ', '\t']);
    let field = lines.iter().position(|line| {
        !continues(line)
            && line
                .split_once(':')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
    });
    let Some(first) = field else {
        return format!("Content-Type: text/plain; charset=\"{charset}\"\r\n{head}");
    };
    let last = first
        + lines[first + 1..]
            .iter()
            .take_while(|line| continues(line))
            .count();
    let mut out = String::with_capacity(head.len() + 32);
    for (i, line) in lines.iter().enumerate() {
        if i == last {
            let value = line.trim_end_matches(['\r', '\n']);
            let value = value.trim_end().trim_end_matches(';');
            out.push_str(value);
            out.push_str(&format!("; charset=\"{charset}\""));
            out.push_str(&line[line.trim_end_matches(['\r', '\n']).len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}
