//! Durations as journey files write them: `90s`, `15m`, `4h`, `30d`, `2w`.

use std::fmt;
use std::str::FromStr;

/// A whole number of seconds, written with one unit suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    secs: u64,
}

/// Why a duration could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text was empty.
    #[error("empty duration")]
    Empty,
    /// The number part is missing or not a whole number.
    #[error("`{0}` is not a duration: it must start with a whole number")]
    BadNumber(String),
    /// The unit is missing, unknown, or a word such as `days`.
    #[error("`{text}` is not a duration: {problem}")]
    BadUnit {
        /// The whole text that was read.
        text: String,
        /// What is wrong with the unit.
        problem: String,
        /// The same duration written correctly, when the intent is clear (`30 days` → `30d`).
        suggestion: Option<String>,
    },
    /// The value does not fit in 64 bits of seconds.
    #[error("`{0}` is too long a duration")]
    Overflow(String),
}

impl DurationError {
    /// How to fix the text.
    pub fn hint(&self) -> String {
        match self {
            DurationError::BadUnit {
                suggestion: Some(s),
                ..
            } => format!("write {s}"),
            _ => "durations look like 90s, 15m, 4h, 30d or 2w".to_string(),
        }
    }
}

/// The unit letter meant by a unit word, in English or French.
fn unit_word(word: &str) -> Option<char> {
    let word = word.to_lowercase();
    let word = word.trim_end_matches('s');
    Some(match word {
        "" => return None,
        one if one.len() == 1 && Duration::unit_secs(one.chars().next()?).is_some() => {
            one.chars().next()?
        }
        "sec" | "second" | "seconde" => 's',
        "min" | "mn" | "minute" => 'm',
        "hour" | "hr" | "heure" => 'h',
        "day" | "j" | "jour" => 'd',
        "week" | "wk" | "semaine" | "sem" => 'w',
        _ => return None,
    })
}

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration { secs }
    }

    /// The length in seconds.
    pub const fn as_secs(self) -> u64 {
        self.secs
    }

    /// Seconds per unit letter, or `None` for a letter that is not a unit.
    pub fn unit_secs(unit: char) -> Option<u64> {
        match unit {
            's' => Some(1),
            'm' => Some(60),
            'h' => Some(3_600),
            'd' => Some(86_400),
            'w' => Some(604_800),
            _ => None,
        }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(DurationError::Empty);
        }
        let digits_end = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(digits_end);
        if number.is_empty() || unit.starts_with('.') {
            return Err(DurationError::BadNumber(text.to_string()));
        }
        let unit = unit.trim_start();
        let months = matches!(
            unit.to_lowercase().trim_end_matches('s'),
            "month" | "moi" | "mo"
        );
        let bad_unit = |problem: String| DurationError::BadUnit {
            text: text.to_string(),
            problem,
            // Months vary in length; thirty days is what people mean in a journey window.
            suggestion: if months {
                number.parse::<u64>().ok().map(|n| format!("{}d", n * 30))
            } else {
                unit_word(unit).map(|u| format!("{number}{u}"))
            },
        };
        let mut unit_chars = unit.chars();
        let per_unit = match (unit_chars.next(), unit_chars.next()) {
            (None, _) => {
                return Err(bad_unit(
                    "the unit is missing (s, m, h, d or w)".to_string(),
                ));
            }
            (Some(u), None) if unit.len() == trimmed.len() - number.len() => Duration::unit_secs(u)
                .ok_or_else(|| bad_unit(format!("`{u}` is not a unit (s, m, h, d or w)")))?,
            _ => {
                return Err(bad_unit(format!(
                    "the unit is one letter right after the number (s, m, h, d or w), not `{unit}`"
                )));
            }
        };
        let count: u64 = number
            .parse()
            .map_err(|_| DurationError::Overflow(text.to_string()))?;
        count
            .checked_mul(per_unit)
            .map(Duration::from_secs)
            .ok_or_else(|| DurationError::Overflow(text.to_string()))
    }
}

impl fmt::Display for Duration {
    /// Writes the largest unit that divides the duration exactly, so `5400s` prints as `90m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, per) in [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60)] {
            if self.secs != 0 && self.secs.is_multiple_of(per) {
                return write!(f, "{}{unit}", self.secs / per);
            }
        }
        write!(f, "{}s", self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        for (text, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("4h", 14_400),
            ("30d", 2_592_000),
            ("2w", 1_209_600),
        ] {
            assert_eq!(text.parse::<Duration>().unwrap().as_secs(), secs, "{text}");
        }
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        assert_eq!("".parse::<Duration>(), Err(DurationError::Empty));
        assert!(matches!(
            "h".parse::<Duration>(),
            Err(DurationError::BadNumber(_))
        ));
        assert!(matches!(
            "1.5h".parse::<Duration>(),
            Err(DurationError::BadNumber(_))
        ));
        assert!(matches!(
            "4".parse::<Duration>(),
            Err(DurationError::BadUnit { .. })
        ));
        assert!(matches!(
            "4y".parse::<Duration>(),
            Err(DurationError::BadUnit { .. })
        ));
        assert!(matches!(
            "4hours".parse::<Duration>(),
            Err(DurationError::BadUnit { .. })
        ));
        assert!(matches!(
            "99999999999999999999w".parse::<Duration>(),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn unit_words_get_a_suggestion() {
        for (text, hint) in [
            ("30 days", "write 30d"),
            ("4 heures", "write 4h"),
            ("2 semaines", "write 2w"),
            ("15min", "write 15m"),
            ("3j", "write 3d"),
            ("4 h", "write 4h"),
            ("6 months", "write 180d"),
            ("3 mois", "write 90d"),
            ("4y", "durations look like 90s, 15m, 4h, 30d or 2w"),
        ] {
            assert_eq!(text.parse::<Duration>().unwrap_err().hint(), hint, "{text}");
        }
    }

    #[test]
    fn prints_the_largest_exact_unit() {
        assert_eq!(Duration::from_secs(5400).to_string(), "90m");
        assert_eq!(Duration::from_secs(86_400 * 14).to_string(), "2w");
        assert_eq!(Duration::from_secs(61).to_string(), "61s");
        assert_eq!(Duration::from_secs(0).to_string(), "0s");
    }
}
