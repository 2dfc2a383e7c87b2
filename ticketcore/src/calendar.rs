//! Working time: business calendars (weekly hours, holidays, a time zone) and the wall clock,
//! behind one [`WorkingTime`] so escalation and lock timeouts need not care which applies.
//!
//! Working intervals are turned into UTC instants day by day, so a daylight-saving change is
//! counted as the real time that passes: a 00:00–04:00 shift on the night clocks go forward
//! holds three hours of work, not four.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::{Calendar, parse_hours};
use crate::error::{Error, Result};

/// How far ahead (in days) working time is searched before a deadline counts as never.
const HORIZON_DAYS: u32 = 366 * 20;

/// A compiled business calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    tz: Tz,
    /// Working intervals per weekday (Monday first), minutes of the local day.
    week: [Vec<(u32, u32)>; 7],
    /// Holidays every year (month, day).
    yearly: HashSet<(u32, u32)>,
    /// One-off holidays.
    once: HashSet<NaiveDate>,
}

impl BusinessCalendar {
    /// Compiles a configured calendar.
    pub fn new(calendar: &Calendar) -> Result<BusinessCalendar> {
        let bad = |what: String| Error::Invalid(format!("calendar {:?}: {what}", calendar.name));
        let tz: Tz = calendar
            .time_zone
            .parse()
            .map_err(|_| bad(format!("unknown time zone {:?}", calendar.time_zone)))?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, hours) in &calendar.hours {
            let index = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .position(|d| d == day)
                .ok_or_else(|| bad(format!("unknown weekday {day:?}")))?;
            week[index] = parse_hours(hours).map_err(bad)?;
        }
        if week.iter().all(Vec::is_empty) {
            return Err(bad("no working hours on any day".into()));
        }
        let mut yearly = HashSet::new();
        let mut once = HashSet::new();
        for day in &calendar.holidays {
            if let Ok(date) = NaiveDate::parse_from_str(day, "%Y-%m-%d") {
                once.insert(date);
            } else if let Ok(date) = NaiveDate::parse_from_str(&format!("2000-{day}"), "%Y-%m-%d") {
                yearly.insert((date.month(), date.day()));
            } else {
                return Err(bad(format!("holiday {day:?} is not YYYY-MM-DD or MM-DD")));
            }
        }
        Ok(BusinessCalendar {
            tz,
            week,
            yearly,
            once,
        })
    }

    /// The local instant `minutes` into `day`, as UTC. A local time skipped by a DST change
    /// maps to the first instant after the gap; an ambiguous one to its first occurrence.
    fn instant(&self, day: NaiveDate, minutes: u32) -> Option<DateTime<Utc>> {
        let local = if minutes >= 24 * 60 {
            day.succ_opt()?.and_time(NaiveTime::MIN)
        } else {
            day.and_hms_opt(minutes / 60, minutes % 60, 0)?
        };
        (0..=8).find_map(|step| {
            let shifted: NaiveDateTime = local + Duration::minutes(15 * step);
            self.tz
                .from_local_datetime(&shifted)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        })
    }

    /// The working intervals of one local day, as UTC instants, in order.
    fn day_intervals(&self, day: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.once.contains(&day) || self.yearly.contains(&(day.month(), day.day())) {
            return Vec::new();
        }
        let weekday = day.weekday().num_days_from_monday() as usize;
        self.week[weekday]
            .iter()
            .filter_map(|&(a, b)| Some((self.instant(day, a)?, self.instant(day, b)?)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    /// Working intervals overlapping `[from, ...)`, in order, clipped to start at `from`.
    fn intervals_from(
        &self,
        from: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        // Start a day early: the local day of `from` may begin before it in UTC terms.
        let first = from.with_timezone(&self.tz).date_naive().pred_opt();
        first
            .into_iter()
            .flat_map(|d| d.iter_days().take(HORIZON_DAYS as usize))
            .flat_map(move |day| self.day_intervals(day))
            .filter(move |&(_, end)| end > from)
            .map(move |(start, end)| (start.max(from), end))
    }

    /// The instant when `amount` of working time has passed after `start`; `None` when that is
    /// beyond the search horizon. Adding nothing returns `start` itself.
    pub fn add_working_time(
        &self,
        start: DateTime<Utc>,
        amount: Duration,
    ) -> Option<DateTime<Utc>> {
        if amount <= Duration::zero() {
            return Some(start);
        }
        let mut left = amount;
        for (a, b) in self.intervals_from(start) {
            let span = b - a;
            if span >= left {
                return Some(a + left);
            }
            left -= span;
        }
        None
    }

    /// The working time within `[a, b)`; zero when `b <= a`.
    pub fn working_time_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        for (start, end) in self.intervals_from(a) {
            if start >= b {
                break;
            }
            total += end.min(b) - start;
        }
        total
    }

    /// Whether `t` lies within working hours (interval start inclusive, end exclusive).
    pub fn is_working(&self, t: DateTime<Utc>) -> bool {
        self.intervals_from(t).next().is_some_and(|(a, _)| a == t)
    }

    /// Whether `t` is exactly the end of a working interval.
    pub fn is_interval_end(&self, t: DateTime<Utc>) -> bool {
        let day = t.with_timezone(&self.tz).date_naive();
        [day.pred_opt(), Some(day)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.day_intervals(d))
            .any(|(_, end)| end == t)
    }
}

/// The time base of a queue: its business calendar, or the wall clock when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkingTime {
    /// Every second counts.
    WallClock,
    /// Only working hours count.
    Calendar(Box<BusinessCalendar>),
}

impl WorkingTime {
    /// `start` plus `amount` of working time (`None`: never, within the horizon).
    pub fn add(&self, start: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        match self {
            WorkingTime::WallClock => start.checked_add_signed(amount.max(Duration::zero())),
            WorkingTime::Calendar(c) => c.add_working_time(start, amount),
        }
    }

    /// Working time within `[a, b)`.
    pub fn between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        match self {
            WorkingTime::WallClock => (b - a).max(Duration::zero()),
            WorkingTime::Calendar(c) => c.working_time_between(a, b),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn office() -> BusinessCalendar {
        BusinessCalendar::new(&Calendar {
            name: "office".into(),
            time_zone: "Europe/Berlin".into(),
            hours: [
                ("mon", "09:00-12:00,13:00-17:00"),
                ("tue", "09:00-17:00"),
                ("wed", "09:00-17:00"),
                ("thu", "09:00-17:00"),
                ("fri", "09:00-15:00"),
            ]
            .into_iter()
            .map(|(d, h)| (d.to_string(), h.to_string()))
            .collect(),
            holidays: vec!["12-25".into(), "2026-12-24".into()],
        })
        .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn adds_across_lunch_weekend_and_holidays() {
        let c = office();
        // Monday 2026-03-02 11:00 Berlin (10:00 UTC) + 2h: 1h before lunch, 1h after.
        assert_eq!(
            c.add_working_time(utc("2026-03-02T10:00:00Z"), Duration::hours(2)),
            Some(utc("2026-03-02T13:00:00Z"))
        );
        // Friday 14:00 Berlin + 2h: 1h Friday, then Monday 10:00.
        assert_eq!(
            c.add_working_time(utc("2026-03-06T13:00:00Z"), Duration::hours(2)),
            Some(utc("2026-03-09T09:00:00Z"))
        );
        // Wednesday 2026-12-23 16:00 + 2h skips the 24th and 25th (holidays) to Mon 28th? No:
        // the 26th is a Saturday, so 1h on the 23rd, then Monday the 28th 10:00.
        assert_eq!(
            c.add_working_time(utc("2026-12-23T15:00:00Z"), Duration::hours(2)),
            Some(utc("2026-12-28T09:00:00Z"))
        );
        assert_eq!(
            c.working_time_between(utc("2026-03-02T00:00:00Z"), utc("2026-03-09T00:00:00Z")),
            Duration::hours(7 + 8 * 3 + 6)
        );
    }

    #[test]
    fn daylight_saving_counts_real_time() {
        let night = BusinessCalendar::new(&Calendar {
            name: "night".into(),
            time_zone: "Europe/Berlin".into(),
            hours: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .into_iter()
                .map(|d| (d.to_string(), "00:00-04:00".to_string()))
                .collect(),
            holidays: vec![],
        })
        .unwrap();
        // 2026-03-29: clocks jump from 02:00 to 03:00: only 3 real hours of work that night.
        let day = |d: &str| utc(&format!("{d}T00:00:00Z")) - Duration::hours(2);
        assert_eq!(
            night.working_time_between(day("2026-03-29"), day("2026-03-30")),
            Duration::hours(3)
        );
        // 2026-10-25: clocks fall back from 03:00 to 02:00: 5 real hours.
        assert_eq!(
            night.working_time_between(day("2026-10-25"), day("2026-10-26")),
            Duration::hours(5)
        );
    }
}
