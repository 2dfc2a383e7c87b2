//! Ticket numbers: the immutable, human-quotable name of a ticket.
//!
//! The formats are those of OTRS/Znuny, so numbers issued by an existing installation keep
//! validating here. Counters come from the Store (see [`NumberConfig::counter_key`]), never from
//! process memory, so two processes never issue the same number.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// A ticket number. It only ever holds ASCII digits and never changes once issued.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

impl TicketNumber {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps digits read back from storage. Stores only hand back numbers the Desk issued or
    /// validated, so no format check is repeated on every read.
    pub fn from_stored(digits: impl Into<String>) -> Self {
        TicketNumber(digits.into())
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which OTRS/Znuny number format a desk issues and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Generator {
    /// SystemID + counter, zero-padded to at least 5 digits.
    AutoIncrement,
    /// YYYYMMDD + SystemID + 5-digit counter (restarts each day).
    Date,
    /// YYYYMMDD + SystemID + 5-digit counter + check digit (restarts each day).
    #[default]
    DateChecksum,
    /// SystemID + 10 random digits.
    Random,
}

/// Why a string is not a ticket number of this desk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// Something other than ASCII digits.
    #[error("ticket number {0:?} must consist of digits only")]
    NotDigits(String),
    /// Wrong length for the generator.
    #[error("ticket number {number:?} has the wrong length for the {generator:?} format")]
    Length {
        /// The rejected input.
        number: String,
        /// The configured generator.
        generator: Generator,
    },
    /// The leading date is not a calendar date.
    #[error("ticket number {0:?} does not start with a valid date (YYYYMMDD)")]
    Date(String),
    /// The SystemID is not this installation's.
    #[error("ticket number {number:?} does not carry SystemID {system_id:?}")]
    SystemId {
        /// The rejected input.
        number: String,
        /// The configured SystemID.
        system_id: String,
    },
    /// The DateChecksum check digit does not match.
    #[error("ticket number {0:?} has a wrong check digit")]
    Checksum(String),
}

/// How this desk issues and recognises ticket numbers (`[numbers]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberConfig {
    /// The number format.
    pub generator: Generator,
    /// The installation's SystemID, part of every number (OTRS default "10").
    pub system_id: String,
    /// Text before the number in subjects, e.g. "Ticket#".
    pub hook: String,
    /// Text between hook and number (OTRS `Ticket::HookDivider`), empty by default.
    pub divider: String,
    /// How many counter values a Desk reserves per Store round-trip. 1 keeps numbers strictly
    /// consecutive across processes; larger blocks save a round-trip per ticket at the price of
    /// gaps when a process stops with values left. Under a burst of creations a desk reserves
    /// up to 16 blocks at once, so that creations do not wait for the counter.
    pub block: u64,
}

impl Default for NumberConfig {
    fn default() -> Self {
        NumberConfig {
            generator: Generator::default(),
            system_id: "10".into(),
            hook: "Ticket#".into(),
            divider: String::new(),
            block: 16,
        }
    }
}

/// Width the counter is padded to; larger counters simply make the number longer.
const COUNTER_WIDTH: usize = 5;
/// Digits of a Random number after the SystemID.
const RANDOM_DIGITS: usize = 10;

/// A day as the eight digits dated numbers and their counters carry (YYYYMMDD); written out
/// directly, as chrono's `format` parses its pattern again on every call.
fn date_digits(day: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", day.year(), day.month(), day.day())
}

/// The OTRS/Znuny DateChecksum check digit over `digits`: weights 1,2,1,2… left to right, the
/// plain products summed (no digit sums); `10 - sum % 10`, where 10 becomes 1.
pub fn check_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .filter(u8::is_ascii_digit)
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    match 10 - (sum % 10) {
        10 => 1,
        c => c as u8,
    }
}

impl NumberConfig {
    /// The Store counter this number draws from on `day`: one for AutoIncrement, one per day for
    /// the date formats (that is how "restarts each day" needs no reset job), none for Random.
    pub fn counter_key(&self, day: NaiveDate) -> Option<String> {
        match self.generator {
            Generator::AutoIncrement => Some("ticket_number".into()),
            Generator::Date | Generator::DateChecksum => {
                Some(format!("ticket_number:{}", date_digits(day)))
            }
            Generator::Random => None,
        }
    }

    /// The counter key and value `number` was issued from: the inverse of [`Self::format`]
    /// for the counting formats (`None` for Random or a number of another format). Moving a
    /// desk to another store uses it to continue every counter past the numbers it brings.
    pub fn counter_of(&self, number: &TicketNumber) -> Option<(String, u64)> {
        let digits = number.0.as_str();
        let sys = self.system_id.as_str();
        let (day, counter) = match self.generator {
            Generator::Random => return None,
            Generator::AutoIncrement => (None, digits.strip_prefix(sys)?),
            Generator::Date | Generator::DateChecksum => {
                let date = digits.get(..8)?;
                let day = NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
                let rest = digits.get(8..)?.strip_prefix(sys)?;
                let rest = match self.generator {
                    Generator::DateChecksum => rest.get(..rest.len().checked_sub(1)?)?,
                    _ => rest,
                };
                (Some(day), rest)
            }
        };
        if counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value = counter.parse().ok()?;
        let key = self.counter_key(day.unwrap_or_default())?;
        Some((key, value))
    }

    /// Formats a number from a counter value (ignored by Random) and random bits (used by
    /// Random only). Pure: the Desk supplies both.
    pub fn format(&self, day: NaiveDate, counter: u64, random: u64) -> TicketNumber {
        let date = || date_digits(day);
        let sys = &self.system_id;
        let digits = match self.generator {
            Generator::AutoIncrement => format!("{sys}{counter:0COUNTER_WIDTH$}"),
            Generator::Date => format!("{}{sys}{counter:0COUNTER_WIDTH$}", date()),
            Generator::DateChecksum => {
                let body = format!("{}{sys}{counter:0COUNTER_WIDTH$}", date());
                let check = check_digit(&body);
                format!("{body}{check}")
            }
            Generator::Random => {
                format!(
                    "{sys}{:0RANDOM_DIGITS$}",
                    random % 10u64.pow(RANDOM_DIGITS as u32)
                )
            }
        };
        TicketNumber(digits)
    }

    /// Parses and validates a number of this desk's format and SystemID. Everything that reads a
    /// ticket number from outside (subjects, CLI, HTTP) goes through here, so a DateChecksum
    /// number with a wrong check digit is rejected everywhere.
    pub fn parse(&self, input: &str) -> Result<TicketNumber, NumberError> {
        let s = input.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::NotDigits(input.to_string()));
        }
        let sys = self.system_id.as_str();
        let length_error = || NumberError::Length {
            number: s.to_string(),
            generator: self.generator,
        };
        let (dated, tail_min, tail_max) = match self.generator {
            Generator::AutoIncrement => (false, COUNTER_WIDTH, usize::MAX),
            Generator::Date => (true, COUNTER_WIDTH, usize::MAX),
            Generator::DateChecksum => (true, COUNTER_WIDTH + 1, usize::MAX),
            Generator::Random => (false, RANDOM_DIGITS, RANDOM_DIGITS),
        };
        let prefix = if dated { 8 } else { 0 };
        if s.len() < prefix + sys.len() + tail_min || s.len() - prefix - sys.len() > tail_max {
            return Err(length_error());
        }
        if dated && NaiveDate::parse_from_str(&s[..8], "%Y%m%d").is_err() {
            return Err(NumberError::Date(s.to_string()));
        }
        if &s[prefix..prefix + sys.len()] != sys {
            return Err(NumberError::SystemId {
                number: s.to_string(),
                system_id: sys.to_string(),
            });
        }
        if self.generator == Generator::DateChecksum {
            let (body, check) = s.split_at(s.len() - 1);
            if check.as_bytes()[0] - b'0' != check_digit(body) {
                return Err(NumberError::Checksum(s.to_string()));
            }
        }
        Ok(TicketNumber(s.to_string()))
    }

    /// The tag put into subjects of outgoing mail: hook, divider and number.
    pub fn subject_tag(&self, number: &TicketNumber) -> String {
        format!("{}{}{}", self.hook, self.divider, number)
    }

    /// Finds the first valid ticket number of this desk in a subject (or any text): the hook
    /// (case-insensitive), the divider, optionally a colon and up to two spaces, then digits.
    /// Brackets and "Re:/AW:/Fwd:/WG:/SV:" prefixes around it do not matter; numbers that fail
    /// validation (wrong SystemID, wrong check digit) are skipped, as is a hook with no number.
    pub fn find_in_subject(&self, subject: &str) -> Option<TicketNumber> {
        self.numbers_in(subject).next()
    }

    /// Every valid ticket number in `text`, in order of appearance.
    pub fn numbers_in<'a>(&'a self, text: &'a str) -> impl Iterator<Item = TicketNumber> + 'a {
        let marker_len = self.hook.len() + self.divider.len();
        let is_marker = move |at: &str| {
            at.get(..self.hook.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.hook))
                && at
                    .get(self.hook.len()..marker_len)
                    .is_some_and(|d| d.eq_ignore_ascii_case(&self.divider))
        };
        text.char_indices()
            .filter(move |&(i, _)| marker_len > 0 && is_marker(&text[i..]))
            .filter_map(move |(i, _)| {
                let rest = &text[i + marker_len..];
                let rest = rest.strip_prefix(':').unwrap_or(rest);
                let trimmed = rest.trim_start_matches([' ', '\t']);
                if rest.len() - trimmed.len() > 2 {
                    return None;
                }
                let end = trimmed
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(trimmed.len());
                self.parse(&trimmed[..end]).ok()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(generator: Generator) -> NumberConfig {
        NumberConfig {
            generator,
            ..NumberConfig::default()
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn known_good_otrs_numbers_validate() {
        let c = config(Generator::DateChecksum);
        for n in ["2002062310100011", "2023032410000012"] {
            assert_eq!(c.parse(n).map(|t| t.0), Ok(n.to_string()));
        }
        assert_eq!(
            c.format(day("2023-03-24"), 1, 0).as_str(),
            "2023032410000012"
        );
        assert_eq!(
            c.format(day("2002-06-23"), 1000, 0).as_str(),
            "2002062310010001"
        );
    }

    #[test]
    fn wrong_check_digit_is_rejected() {
        let c = config(Generator::DateChecksum);
        assert_eq!(
            c.parse("2023032410000013"),
            Err(NumberError::Checksum("2023032410000013".into()))
        );
    }

    #[test]
    fn formats() {
        let d = day("2026-11-25");
        assert_eq!(
            config(Generator::AutoIncrement).format(d, 7, 0).as_str(),
            "1000007"
        );
        assert_eq!(
            config(Generator::AutoIncrement)
                .format(d, 1_234_567, 0)
                .as_str(),
            "101234567"
        );
        assert_eq!(
            config(Generator::Date).format(d, 42, 0).as_str(),
            "202611251000042"
        );
        assert_eq!(
            config(Generator::Random).format(d, 0, 42).as_str(),
            "100000000042"
        );
        let long = config(Generator::DateChecksum).format(d, 123_456, 0);
        assert_eq!(long.as_str().len(), 8 + 2 + 6 + 1);
        assert!(config(Generator::DateChecksum).parse(long.as_str()).is_ok());
    }

    #[test]
    fn counter_of_inverts_format() {
        let d = day("2026-11-25");
        for generator in [
            Generator::AutoIncrement,
            Generator::Date,
            Generator::DateChecksum,
        ] {
            let c = config(generator);
            for counter in [1, 42, 99_999, 1_234_567] {
                let number = c.format(d, counter, 0);
                assert_eq!(
                    c.counter_of(&number),
                    Some((c.counter_key(d).unwrap_or_default(), counter)),
                    "{generator:?} {number}"
                );
            }
        }
        let random = config(Generator::Random);
        assert_eq!(random.counter_of(&random.format(d, 0, 42)), None);
        let date = config(Generator::Date);
        assert_eq!(
            date.counter_of(&TicketNumber("20261325100001".into())),
            None
        );
        assert_eq!(date.counter_of(&TicketNumber("2026112599".into())), None);
    }

    #[test]
    fn parse_rejects_foreign_and_malformed() {
        let c = config(Generator::DateChecksum);
        assert!(matches!(c.parse(""), Err(NumberError::NotDigits(_))));
        assert!(matches!(c.parse("12a4"), Err(NumberError::NotDigits(_))));
        assert!(matches!(c.parse("2023"), Err(NumberError::Length { .. })));
        assert!(matches!(
            c.parse("2023133210000012"),
            Err(NumberError::Date(_))
        ));
        assert!(matches!(
            c.parse("2023032499000012"),
            Err(NumberError::SystemId { .. })
        ));
        let r = config(Generator::Random);
        assert!(matches!(
            r.parse("10123456789012"),
            Err(NumberError::Length { .. })
        ));
    }

    #[test]
    fn finds_numbers_in_subjects() {
        let c = config(Generator::DateChecksum);
        let n = Some(TicketNumber("2023032410000012".into()));
        for s in [
            "[Ticket#2023032410000012] AW: Re: Antrag",
            "Re: Ticket#: 2023032410000012 question",
            "AW: WG: Fwd: SV: ticket#2023032410000012",
            "Ticket#2023032410000013 wrong, then [Ticket#2023032410000012]",
            "Überweisung [Ticket#2023032410000012]",
        ] {
            assert_eq!(c.find_in_subject(s), n, "{s}");
        }
        assert_eq!(c.find_in_subject("Ticket#2023032410000013"), None);
        assert_eq!(c.find_in_subject("2023032410000012 without hook"), None);
        assert_eq!(c.find_in_subject("Ticket#:    2023032410000012"), None);
        let with_divider = NumberConfig {
            divider: ": ".into(),
            ..c.clone()
        };
        assert_eq!(
            with_divider.find_in_subject("RE: [Ticket#: 2023032410000012]"),
            n
        );
    }
}
