//! Weeks of the analysed period, Monday to Sunday in the journey's time zone.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::funnel::Millis;

/// A week of seven 24-hour days, in milliseconds.
const WEEK_MS: Millis = 7 * 86_400_000;

/// Weeks of instants met in increasing order (see [`Calendar::walk`]).
pub struct WeekWalk<'c> {
    calendar: &'c Calendar,
    week: u16,
    /// The end of `week`: the week changes only when an instant passes it.
    next: Millis,
}

impl WeekWalk<'_> {
    /// [`Calendar::week`] of `at`, which is not before the instants given so far.
    pub fn week(&mut self, at: Millis) -> u16 {
        if at >= self.next {
            let w = self.calendar.week(at);
            self.week = w as u16;
            self.next = if w + 1 < self.calendar.len() {
                self.calendar.bounds[w + 1]
            } else {
                Millis::MAX
            };
        }
        self.week
    }
}

/// The weeks covering a period, each starting on Monday at midnight, local time.
#[derive(Clone, Debug)]
pub struct Calendar {
    zone: TimeZone,
    /// Start of each week, then the end of the last one.
    bounds: Vec<Millis>,
    mondays: Vec<Date>,
}

impl Calendar {
    /// Weeks covering `[from, to)` in the IANA zone `timezone` (UTC when unknown).
    pub fn new(from: Millis, to: Millis, timezone: &str) -> Calendar {
        let zone = TimeZone::get(timezone).unwrap_or(TimeZone::UTC);
        let date_of = |ms: Millis| {
            Timestamp::from_millisecond(ms)
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .to_zoned(zone.clone())
                .date()
        };
        let first = date_of(from);
        let mut monday = first
            .checked_sub((first.weekday().to_monday_zero_offset() as i64).days())
            .unwrap_or(first);
        let mut bounds = Vec::new();
        let mut mondays = Vec::new();
        loop {
            let start = midnight(monday, &zone);
            if !bounds.is_empty() && start >= to {
                bounds.push(start);
                break;
            }
            bounds.push(start);
            mondays.push(monday);
            match monday.checked_add(7.days()) {
                Ok(next) => monday = next,
                Err(_) => {
                    bounds.push(Millis::MAX);
                    break;
                }
            }
        }
        Calendar {
            zone,
            bounds,
            mondays,
        }
    }

    /// How many weeks.
    pub fn len(&self) -> usize {
        self.mondays.len()
    }

    /// True for an empty period.
    pub fn is_empty(&self) -> bool {
        self.mondays.is_empty()
    }

    /// The week holding `at`, clamped to the calendar.
    pub fn week(&self, at: Millis) -> usize {
        let last = self.len().saturating_sub(1);
        let Some(&first) = self.bounds.first() else {
            return 0;
        };
        if at < first {
            return 0;
        }
        // Weeks are seven days give or take a change of offset: the week of a uniform
        // calendar is at most one step from the right one.
        let mut week =
            usize::try_from(at.saturating_sub(first) / WEEK_MS).map_or(last, |w| w.min(last));
        while week > 0 && self.bounds[week] > at {
            week -= 1;
        }
        while week < last && self.bounds[week + 1] <= at {
            week += 1;
        }
        week
    }

    /// A walk over instants in increasing order from one in week `week`, giving the week
    /// of each.
    pub fn walk_from(&self, week: usize) -> WeekWalk<'_> {
        let last = self.len().saturating_sub(1);
        let week = week.min(last);
        WeekWalk {
            calendar: self,
            week: week as u16,
            next: if week < last {
                self.bounds[week + 1]
            } else {
                Millis::MAX
            },
        }
    }

    /// A walk over instants in increasing order, giving the week of each.
    pub fn walk(&self) -> WeekWalk<'_> {
        WeekWalk {
            calendar: self,
            week: 0,
            next: Millis::MIN,
        }
    }

    /// Start of week `week`.
    pub fn start(&self, week: usize) -> Millis {
        self.bounds[week]
    }

    /// End (exclusive) of week `week`.
    pub fn end(&self, week: usize) -> Millis {
        self.bounds[week + 1]
    }

    /// Monday of week `week`, ISO date.
    pub fn monday(&self, week: usize) -> String {
        self.mondays[week].to_string()
    }

    /// Sunday of week `week`, ISO date.
    pub fn sunday(&self, week: usize) -> String {
        self.mondays[week]
            .checked_add(6.days())
            .map(|d| d.to_string())
            .unwrap_or_default()
    }

    /// The local date of an instant, ISO.
    pub fn date(&self, at: Millis) -> String {
        Timestamp::from_millisecond(at)
            .map(|t| t.to_zoned(self.zone.clone()).date().to_string())
            .unwrap_or_default()
    }
}

fn midnight(date: Date, zone: &TimeZone) -> Millis {
    date.to_zoned(zone.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;
    /// Monday 5 January 2026, 00:00 UTC.
    const MONDAY_UTC: Millis = 1_767_571_200_000;

    #[test]
    fn weeks_start_on_local_mondays() {
        // Paris is UTC+1 in winter: its Monday starts at Sunday 23:00 UTC.
        let calendar = Calendar::new(MONDAY_UTC + 3 * DAY, MONDAY_UTC + 20 * DAY, "Europe/Paris");
        assert_eq!(calendar.monday(0), "2026-01-05");
        assert_eq!(calendar.sunday(0), "2026-01-11");
        assert_eq!(calendar.start(0), MONDAY_UTC - 3_600_000);
        assert_eq!(calendar.len(), 3);
        assert_eq!(calendar.week(MONDAY_UTC + 7 * DAY - 3_600_000), 1);
        assert_eq!(calendar.week(MONDAY_UTC + 7 * DAY - 3_600_001), 0);
        assert_eq!(calendar.week(MONDAY_UTC + 20 * DAY), 2);
    }

    #[test]
    fn the_week_of_an_instant_is_the_last_week_started_across_offset_changes() {
        // A year and a half in Paris: two springs forward and two falls back.
        let calendar = Calendar::new(MONDAY_UTC, MONDAY_UTC + 540 * DAY, "Europe/Paris");
        let searched = |at: Millis| {
            calendar
                .bounds
                .partition_point(|&b| b <= at)
                .saturating_sub(1)
                .min(calendar.len() - 1)
        };
        let mut ats = vec![Millis::MIN, -1, 0, Millis::MAX];
        for w in 0..=calendar.len() {
            let bound = calendar.bounds[w];
            for delta in [
                -7 * DAY,
                -3_600_001,
                -3_600_000,
                -1,
                0,
                1,
                3_600_000,
                3 * DAY,
            ] {
                ats.push(bound + delta);
            }
        }
        for at in ats {
            assert_eq!(calendar.week(at), searched(at), "at {at}");
        }
    }

    #[test]
    fn a_walk_over_sorted_instants_gives_their_weeks() {
        let calendar = Calendar::new(MONDAY_UTC + 3 * DAY, MONDAY_UTC + 40 * DAY, "Europe/Paris");
        // Before the first week, on bounds, a millisecond either side, after the last.
        let mut ats: Vec<Millis> = vec![MONDAY_UTC - 30 * DAY, MONDAY_UTC + 60 * DAY];
        for w in 0..=calendar.len() {
            let bound = if w < calendar.len() {
                calendar.start(w)
            } else {
                calendar.end(w - 1)
            };
            ats.extend([bound - 1, bound, bound, bound + 1, bound + 3 * DAY]);
        }
        ats.sort_unstable();
        let mut walk = calendar.walk();
        let weeks: Vec<u16> = ats.iter().map(|&at| walk.week(at)).collect();
        let expected: Vec<u16> = ats.iter().map(|&at| calendar.week(at) as u16).collect();
        assert_eq!(weeks, expected);
        assert_eq!(weeks.first(), Some(&0));
        assert_eq!(weeks.last(), Some(&(calendar.len() as u16 - 1)));
    }

    #[test]
    fn a_week_across_the_clock_change_is_167_hours() {
        // Summer time starts on Sunday 29 March 2026 in Paris.
        let from = 1_774_224_000_000; // 2026-03-23 00:00 UTC, a Monday
        let calendar = Calendar::new(from, from + 14 * DAY, "Europe/Paris");
        assert_eq!(calendar.monday(0), "2026-03-23");
        assert_eq!(calendar.end(0) - calendar.start(0), 167 * 3_600_000);
    }

    #[test]
    fn unknown_zone_is_utc() {
        let calendar = Calendar::new(MONDAY_UTC, MONDAY_UTC + DAY, "Nowhere/Atlantis");
        assert_eq!(calendar.start(0), MONDAY_UTC);
        assert_eq!(calendar.len(), 1);
    }
}
