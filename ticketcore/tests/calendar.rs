//! Working-time properties of business calendars.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use ticketcore::calendar::BusinessCalendar;
use ticketcore::config::Calendar;
use ticketcore::testkit::strategies::{calendar, cases};

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2025..2027, minute resolution, so DST switches of both hemispheres are crossed.
    (0i64..3 * 365 * 24 * 60)
        .prop_map(|m| Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(m))
}

fn amount() -> impl Strategy<Value = Duration> {
    (0i64..120 * 60).prop_map(Duration::minutes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// A result falls inside working hours, or exactly at an interval's end.
    #[test]
    fn results_fall_in_working_hours(cal in calendar(), start in instant(), d in amount()) {
        let c = BusinessCalendar::new(&cal).unwrap();
        prop_assume!(d > Duration::zero());
        let end = c.add_working_time(start, d).unwrap();
        prop_assert!(end > start);
        prop_assert!(c.is_working(end) || c.is_interval_end(end), "{end} for {cal:?}");
    }

    /// Adding more never ends earlier; adding a then b equals adding a + b.
    #[test]
    fn monotonic_and_additive(cal in calendar(), start in instant(), a in amount(), b in amount()) {
        let c = BusinessCalendar::new(&cal).unwrap();
        let after_a = c.add_working_time(start, a).unwrap();
        let after_ab = c.add_working_time(start, a + b).unwrap();
        prop_assert!(after_a <= after_ab);
        prop_assert_eq!(c.add_working_time(after_a, b).unwrap(), after_ab);
    }

    /// working_time_between inverts add_working_time.
    #[test]
    fn between_inverts_add(cal in calendar(), start in instant(), d in amount()) {
        let c = BusinessCalendar::new(&cal).unwrap();
        let end = c.add_working_time(start, d).unwrap();
        prop_assert_eq!(c.working_time_between(start, end), d);
    }

    /// Around the clock in a DST zone, working time is real elapsed time, so a day with a
    /// clock change has 23 or 25 hours.
    #[test]
    fn around_the_clock_counts_real_time(
        tz in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "Australia/Sydney"]),
        a in instant(),
        span in 0i64..60 * 24 * 40,
    ) {
        let c = BusinessCalendar::new(&Calendar {
            name: "24/7".into(),
            time_zone: tz.into(),
            hours: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .into_iter()
                .map(|d| (d.to_string(), "00:00-24:00".to_string()))
                .collect(),
            holidays: vec![],
        })
        .unwrap();
        let b = a + Duration::minutes(span);
        prop_assert_eq!(c.working_time_between(a, b), b - a);
        prop_assert_eq!(c.add_working_time(a, b - a).unwrap(), b);
    }
}

/// The DST days of 2026 in Berlin, New York and Sydney have 23 or 25 hours.
#[test]
fn dst_days_have_23_or_25_hours() {
    for (tz, short, long) in [
        ("Europe/Berlin", "2026-03-29", "2026-10-25"),
        ("America/New_York", "2026-03-08", "2026-11-01"),
        ("Australia/Sydney", "2026-10-04", "2026-04-05"),
    ] {
        let c = BusinessCalendar::new(&Calendar {
            name: "24/7".into(),
            time_zone: tz.into(),
            hours: [("sun".to_string(), "00:00-24:00".to_string())].into(),
            holidays: vec![],
        })
        .unwrap();
        let around = |d: &str| {
            let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
            let start =
                Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap()) - Duration::days(1);
            c.working_time_between(start, start + Duration::days(3))
        };
        assert_eq!(around(short), Duration::hours(23), "{tz} {short}");
        assert_eq!(around(long), Duration::hours(25), "{tz} {long}");
    }
}
