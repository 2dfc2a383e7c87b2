//! The analyzer: how text becomes search terms. One function decides the terms for every
//! backend (they only store and look up what it returns), so every backend finds the same
//! tickets for the same query.
//!
//! A term is one word, lower-cased, accents folded (the umlauts to their base vowels, and so
//! their spellings `ae`, `oe`, `ue` as people without a German keyboard type them), and
//! stemmed first as German, then as English: `Rechnungen` and `Rechnung` give one term,
//! `Beiträge` and `Beitrag`, `defekte` and `defekt`, `printers` and `printer`, `Müller` and
//! `Mueller`. Applying both stemmers to every word costs some precision (an English word may
//! lose a German-looking ending, `does` and `dos` meet) and needs no guess at the language of
//! a mail, which is often both.
//!
//! Terms are made of letters and digits only, so every full-text engine (FTS5, tsvector,
//! InnoDB FULLTEXT, tantivy) keeps each term as one token.

use std::cell::RefCell;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

/// The analyzer's version: stores keep the terms it made, so when it changes (a new
/// version here) they derive them again when they open.
pub const VERSION: u64 = 2;

/// Words longer than this (base64 debris, hashes) are not indexed.
pub const MAX_WORD: usize = 64;

static GERMAN: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::German));
static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Stemmed words per thread: mail repeats its vocabulary, and a lookup costs a fraction of
/// two stemmer runs. Hashed with foldhash, randomly seeded per process (words come from
/// strangers' mail), at a fraction of SipHash's cost.
const CACHE: usize = 1 << 16;

thread_local! {
    static STEMS: RefCell<foldhash::HashMap<String, String>> = RefCell::new(foldhash::HashMap::default());
}

/// The words of `text` as typed (split at everything that is not a letter or digit), with
/// their byte ranges, so a snippet can mark them.
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some(&(_, c)) = rest.peek() {
            if c.is_alphanumeric() {
                break;
            }
            rest.next();
        }
        let (start, _) = *rest.peek()?;
        let mut end = start;
        while let Some(&(i, c)) = rest.peek() {
            if !c.is_alphanumeric() {
                break;
            }
            end = i + c.len_utf8();
            rest.next();
        }
        Some((start, &text[start..end]))
    })
}

/// The term of one word, or `None` for a word too long to index.
pub fn term(word: &str) -> Option<String> {
    with_term(word, str::to_string)
}

/// Runs `f` on the term of `word` where the cache holds it, without a copy: the indexing
/// path's way to it.
fn with_term<R>(word: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
    if word.len() > MAX_WORD * 4 || word.chars().count() > MAX_WORD {
        return None;
    }
    STEMS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(term) = cache.get(word) {
            return Some(f(term));
        }
        let term = stem(word);
        if term.is_empty() {
            return None;
        }
        if cache.len() >= CACHE {
            cache.clear();
        }
        let answer = f(&term);
        cache.insert(word.to_string(), term);
        Some(answer)
    })
}

/// The terms of `text`, in order (phrases are found by position).
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).filter_map(|(_, w)| term(w))
}

/// Appends the terms of `text` to `out`, space-separated, at most `budget` of them; returns
/// how many were written.
pub fn push_terms(out: &mut String, text: &str, budget: usize) -> usize {
    let mut written = 0;
    for (_, word) in words(text) {
        if written == budget {
            break;
        }
        let pushed = with_term(word, |term| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(term);
        });
        if pushed.is_some() {
            written += 1;
        }
    }
    written
}

fn stem(word: &str) -> String {
    let folded = fold(&word.to_lowercase());
    let german = GERMAN.stem(&folded);
    let english = ENGLISH.stem(&german);
    // Lower-casing may leave a combining mark (`İ` becomes `i̇`): terms keep letters and
    // digits only.
    english.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Folds accented Latin letters to their base letters, the umlauts and their spellings `ae`,
/// `oe`, `ue` to the base vowel and `ß` to `ss`: `Müller` and `Mueller` become one word
/// before stemming, and an umlaut plural (`Beiträge`) meets its singular (`Beitrag`). A
/// spelling counts only inside a word (not in `queue`, nor before a last `s`, `d`, `r` or
/// `n`), so `issues`, `continued` and `Feuer` keep their `e`.
fn fold(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    for (i, &c) in chars.iter().enumerate() {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' | 'ä' => 'a',
            'ç' | 'ć' | 'ĉ' | 'č' => 'c',
            'ď' | 'đ' | 'ð' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
            'ğ' | 'ģ' => 'g',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
            'ķ' => 'k',
            'ł' | 'ľ' | 'ļ' | 'ĺ' => 'l',
            'ñ' | 'ń' | 'ň' | 'ņ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ø' | 'ō' | 'ő' | 'ö' => 'o',
            'ř' | 'ŕ' => 'r',
            'ś' | 'š' | 'ş' | 'ș' => 's',
            'ť' | 'ţ' | 'ț' => 't',
            'ù' | 'ú' | 'û' | 'ū' | 'ů' | 'ű' | 'ų' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            'ž' | 'ź' | 'ż' => 'z',
            'æ' => {
                out.push_str("ae");
                continue;
            }
            'œ' => {
                out.push_str("oe");
                continue;
            }
            'ß' => {
                out.push_str("ss");
                continue;
            }
            'þ' => {
                out.push_str("th");
                continue;
            }
            c => c,
        };
        if c == 'e' && spells_umlaut(&chars, i) {
            continue;
        }
        out.push(base);
    }
    out
}

/// Whether the `e` at `i` ends an umlaut's spelling (`ae`, `oe`, `ue`) inside the word.
fn spells_umlaut(chars: &[char], i: usize) -> bool {
    let before = |back: usize| i.checked_sub(back).and_then(|j| chars.get(j)).copied();
    let rest = &chars[i + 1..];
    matches!(before(1), Some('a' | 'o' | 'u'))
        && !(before(1) == Some('u') && before(2) == Some('q'))
        && !matches!(rest, [] | ['s' | 'd' | 'r' | 'n'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(word: &str) -> String {
        term(word).unwrap_or_default()
    }

    #[test]
    fn inflected_forms_share_a_term() {
        for (a, b) in [
            ("Rechnung", "Rechnungen"),
            ("defekt", "defekte"),
            ("Drucker", "Druckers"),
            ("printer", "printers"),
            ("running", "run"),
            ("Müller", "Mueller"),
            ("Straße", "Strasse"),
            ("Überweisung", "Ueberweisungen"),
            ("café", "cafe"),
            ("Beitrag", "Beiträge"),
            ("Vertrag", "Vertraege"),
            ("Antrag", "Anträge"),
            ("Häuser", "Haeuser"),
            ("Bücher", "Buecher"),
            ("Grüße", "Gruesse"),
        ] {
            assert_eq!(t(a), t(b), "{a} / {b}");
        }
        assert_ne!(t("Rechnung"), t("Drucker"));
        assert_eq!(t("issue"), t("Issues"));
        assert_eq!(t("ticket"), t("tickets"));
        assert_eq!(t("queue"), t("queues"), "que keeps its e");
        for (a, b) in [
            ("issue", "issues"),
            ("value", "valued"),
            ("continue", "continued"),
        ] {
            assert_eq!(t(a), t(b), "{a} / {b}");
        }
        assert_ne!(t("Bauer"), t("Baur"), "an e before a last r stays");
        assert_eq!(t("Köln"), t("Koeln"));
    }

    #[test]
    fn words_split_at_everything_but_letters_and_digits() {
        let found: Vec<(usize, &str)> = words("Re: anna@example.com, Nr. 2026-01").collect();
        assert_eq!(
            found,
            [
                (0, "Re"),
                (4, "anna"),
                (9, "example"),
                (17, "com"),
                (22, "Nr"),
                (26, "2026"),
                (31, "01")
            ]
        );
        assert_eq!(words("«»—").count(), 0);
    }

    #[test]
    fn terms_are_letters_and_digits() {
        for word in ["Grüße", "ÆSIR", "Ελλάδα", "привет", "日本語", "x2", "ǅ"] {
            let term = t(word);
            assert!(
                !term.is_empty() && term.chars().all(char::is_alphanumeric),
                "{word}: {term}"
            );
            assert_eq!(term, term.to_lowercase(), "{word}");
        }
        assert_eq!(term(&"a".repeat(65)), None);
    }
}
