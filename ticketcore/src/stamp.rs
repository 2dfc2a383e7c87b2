//! Timestamps in stored documents, in exactly the form chrono's own serde writes (RFC 3339,
//! `Z`, as many fractional digits as the value needs: 0, 3, 6 or 9), but written and read
//! without its formatting machinery. Through serde_json, chrono's `collect_str` escaped its
//! output character by character: a twentieth of the mail pipeline's time on the thread that
//! encodes every ticket, article and event. Anything outside the common form (years beyond
//! 0–9999 on writing, offsets other than `Z` on reading) goes through chrono unchanged.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// For `#[serde(with = "crate::stamp")]` on a `DateTime<Utc>`.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write(at, &mut buf) {
        // Only ASCII digits and separators were written.
        Some(len) => s.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
        None => at.serialize(s),
    }
}

/// For `#[serde(with = "crate::stamp")]` on a `DateTime<Utc>`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(Visitor)
}

/// For `#[serde(default, with = "crate::stamp::option")]` on an `Option<DateTime<Utc>>`
/// (`default` keeps a missing field meaning `None`, as it does without `with`).
pub mod option {
    use super::*;

    /// Serializes `None` as null, a time as [`super::serialize`] does.
    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        at.map(Stamp).serialize(s)
    }

    /// Reads null as `None`, a time as [`super::deserialize`] does.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Stamp>::deserialize(d)?.map(|o| o.0))
    }

    /// A time as the functions above write and read it, so that serde's `Option` can wrap it.
    struct Stamp(DateTime<Utc>);

    impl Serialize for Stamp {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(&self.0, s)
        }
    }

    impl<'de> Deserialize<'de> for Stamp {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::deserialize(d).map(Stamp)
        }
    }
}

struct Visitor;

impl serde::de::Visitor<'_> for Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match read(v.as_bytes()) {
            Some(at) => Ok(at),
            None => v
                .parse::<DateTime<chrono::FixedOffset>>()
                .map(|at| at.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

/// Writes `at` as chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` does; `None` for a
/// year it would write with a sign.
fn write(at: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    // A leap second is second 59 with more than 10⁹ nanoseconds; RFC 3339 writes it as 60.
    let (second, nano) = match at.nanosecond() {
        n if n >= 1_000_000_000 => (at.second() + 1, n - 1_000_000_000),
        n => (at.second(), n),
    };
    let mut out = Out { buf, len: 0 };
    out.digits(year, 4);
    out.byte(b'-');
    out.digits(at.month(), 2);
    out.byte(b'-');
    out.digits(at.day(), 2);
    out.byte(b'T');
    out.digits(at.hour(), 2);
    out.byte(b':');
    out.digits(at.minute(), 2);
    out.byte(b':');
    out.digits(second, 2);
    match nano {
        0 => {}
        n if n % 1_000_000 == 0 => out.fraction(n / 1_000_000, 3),
        n if n % 1_000 == 0 => out.fraction(n / 1_000, 6),
        n => out.fraction(n, 9),
    }
    out.byte(b'Z');
    Some(out.len)
}

/// A buffer being filled; 30 bytes hold the longest form (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
struct Out<'a> {
    buf: &'a mut [u8; 30],
    len: usize,
}

impl Out<'_> {
    fn byte(&mut self, c: u8) {
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = c;
            self.len += 1;
        }
    }

    fn digits(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.byte(b'0' + (value / 10u32.pow(i) % 10) as u8);
        }
    }

    fn fraction(&mut self, value: u32, count: u32) {
        self.byte(b'.');
        self.digits(value, count);
    }
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the form [`write`] writes; `None` for anything
/// else, which chrono's parser then reads (or refuses).
fn read(s: &[u8]) -> Option<DateTime<Utc>> {
    let num = |from: usize, to: usize| -> Option<u32> {
        s.get(from..to)?.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !seps.iter().all(|&(i, c)| s.get(i) == Some(&c)) || s.last() != Some(&b'Z') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let end = s.len() - 1;
    let nano = match end {
        19 => 0,
        _ if s.get(19) == Some(&b'.') && (21..=29).contains(&end) => {
            num(20, end)? * 10u32.pow(9 - (end - 20) as u32)
        }
        _ => return None,
    };
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    // A leap second goes to chrono, which knows where it may stand.
    let time =
        chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nano).filter(|_| second < 60)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ours {
        #[serde(with = "crate::stamp")]
        at: DateTime<Utc>,
        #[serde(default, with = "crate::stamp::option")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Chronos {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    /// `text` as a stored time, read by this module (with `maybe` missing) and by chrono.
    fn read_both(text: &str) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let json = serde_json::to_string(text).unwrap();
        let ours = serde_json::from_str::<Ours>(&format!(r#"{{"at":{json}}}"#));
        let chronos = serde_json::from_str::<Chronos>(&format!(r#"{{"at":{json},"maybe":null}}"#));
        (ours.map(|o| o.at).ok(), chronos.map(|c| c.at).ok())
    }

    fn stamp() -> impl Strategy<Value = DateTime<Utc>> {
        // Whole seconds, milli-, micro- and nanoseconds, leap seconds, and years outside
        // 0–9999 that chrono writes with a sign.
        let nanos = prop_oneof![
            Just(0u32),
            (0u32..1000).prop_map(|n| n * 1_000_000),
            (0u32..1_000_000).prop_map(|n| n * 1000),
            0u32..2_000_000_000,
        ];
        (-400_000_000_000i64..400_000_000_000, nanos).prop_filter_map("valid", |(secs, nano)| {
            let nano = if nano >= 1_000_000_000 && secs.rem_euclid(60) != 59 {
                nano - 1_000_000_000
            } else {
                nano
            };
            Utc.timestamp_opt(secs, nano).single()
        })
    }

    proptest! {
        #[test]
        fn writes_and_reads_what_chrono_writes_and_reads(at in stamp(), maybe in proptest::option::of(stamp())) {
            let ours = serde_json::to_string(&Ours { at, maybe }).unwrap();
            let chronos = serde_json::to_string(&Chronos { at, maybe }).unwrap();
            prop_assert_eq!(&ours, &chronos);
            prop_assert_eq!(serde_json::from_str::<Ours>(&chronos).unwrap(), Ours { at, maybe });
        }
    }

    #[test]
    fn reads_what_chrono_reads_and_refuses_what_it_refuses() {
        for text in [
            "2026-03-02T09:00:00+01:00",
            "2026-03-02T08:00:00.5Z",
            "2026-03-02 08:00:00Z",
            "2026-03-02t08:00:00z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "+12026-03-02T08:00:00Z",
            "2026-02-30T08:00:00Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T08:00:00.Z",
            "2026-03-02T08:00:00.1234567890Z",
            "2026-03-02T08:00:Z",
            "2026-03-02T08:00:0Z",
            "2026-3-02T08:00:00Z",
            "2026-03-02T08:00:00",
            "",
            "Z",
        ] {
            let (ours, chronos) = read_both(text);
            assert_eq!(ours, chronos, "{text}");
        }
    }

    proptest! {
        #[test]
        fn reads_any_text_as_chrono_does(text in "[0-9:.TZ+-]{0,34}") {
            let (ours, chronos) = read_both(&text);
            prop_assert_eq!(ours, chronos);
        }
    }

    proptest! {
        #[test]
        fn reads_near_misses_as_chrono_does(at in stamp(), cut in 0usize..32, at_byte in 0usize..32, byte in "[0-9:.TZtz +-]") {
            // A valid time cut short (and closed with Z again), and one with a byte replaced.
            let valid = serde_json::to_value(&Chronos { at, maybe: None }).unwrap()["at"].as_str().unwrap().to_string();
            let mut cut_short = valid.get(..cut.min(valid.len())).unwrap_or_default().to_string();
            cut_short.push('Z');
            let mut replaced = valid.clone().into_bytes();
            if let Some(b) = replaced.get_mut(at_byte) {
                *b = byte.as_bytes()[0];
            }
            for text in [cut_short, String::from_utf8(replaced).unwrap()] {
                let (ours, chronos) = read_both(&text);
                prop_assert_eq!(ours, chronos, "{}", text);
            }
        }
    }

    #[test]
    fn a_missing_optional_time_is_none() {
        let ours: Ours = serde_json::from_str(r#"{"at":"2026-03-02T08:00:00Z"}"#).unwrap();
        assert_eq!(ours.maybe, None);
    }
}
