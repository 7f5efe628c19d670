//! The words the map draws around the user's own text, in the journey's language.

use parcours_journey::{Cap, Direction, Duration, Kind, Lang, Trigger, Unit};

/// Labels for one language.
pub(crate) struct Labels {
    pub lang: Lang,
    pub goal: &'static str,
    pub touchpoints: &'static str,
    pub actions: &'static str,
    pub motivations: &'static str,
    pub thoughts: &'static str,
    pub emotion: &'static str,
    pub pain_points: &'static str,
    pub opportunities: &'static str,
    pub kpis: &'static str,
    pub targets: &'static str,
    pub measured: &'static str,
    pub emails: &'static str,
    pub owner: &'static str,
    pub personas: &'static str,
    pub objective: &'static str,
    pub target: &'static str,
    pub timeline: &'static str,
    pub everyone: &'static str,
    pub event_plays: &'static str,
    pub drawn_by: &'static str,
}

const EN: Labels = Labels {
    lang: Lang::En,
    goal: "Customer goal",
    touchpoints: "Touchpoints",
    actions: "Actions",
    motivations: "Motivations",
    thoughts: "Thoughts",
    emotion: "Emotion",
    pain_points: "Pain points",
    opportunities: "Opportunities",
    kpis: "KPIs to watch",
    targets: "Targets",
    measured: "Measured",
    emails: "Planned emails",
    owner: "Owner",
    personas: "Personas",
    objective: "Objective",
    target: "Target",
    timeline: "A day in the life",
    everyone: "All customers",
    event_plays: "Emails sent on an event",
    drawn_by: "Drawn by Parcours from the journey file",
};

const FR: Labels = Labels {
    lang: Lang::Fr,
    goal: "Objectif client",
    touchpoints: "Points de contact",
    actions: "Actions",
    motivations: "Motivations",
    thoughts: "Pensées",
    emotion: "Émotion",
    pain_points: "Obstacles",
    opportunities: "Opportunités",
    kpis: "Indicateurs à surveiller",
    targets: "Cibles",
    measured: "Mesuré",
    emails: "Emails prévus",
    owner: "Responsable",
    personas: "Personas",
    objective: "Objectif",
    target: "Cible",
    timeline: "Journée type",
    everyone: "Tous les clients",
    event_plays: "Emails envoyés sur un événement",
    drawn_by: "Carte dessinée par Parcours à partir du fichier de parcours",
};

impl Labels {
    pub(crate) fn of(lang: Lang) -> &'static Labels {
        match lang {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }

    pub(crate) fn kind(&self, kind: Kind) -> &'static str {
        match (self.lang, kind) {
            (Lang::En, Kind::Current) => "Current state",
            (Lang::En, Kind::Future) => "Future state",
            (Lang::En, Kind::DayInTheLife) => "Day in the life",
            (Lang::Fr, Kind::Current) => "État actuel",
            (Lang::Fr, Kind::Future) => "État futur",
            (Lang::Fr, Kind::DayInTheLife) => "Journée type",
        }
    }

    /// `4h` in English, `4 h` in French; days and weeks in the reader's words.
    pub(crate) fn duration(&self, duration: Duration) -> String {
        let text = duration.to_string();
        let (number, unit) = text.split_at(text.len() - 1);
        match (self.lang, unit) {
            (Lang::En, _) => text,
            (Lang::Fr, "d") => format!("{number} j"),
            (Lang::Fr, "w") => format!("{number} sem."),
            (Lang::Fr, "m") => format!("{number} min"),
            (Lang::Fr, other) => format!("{number} {other}"),
        }
    }

    pub(crate) fn trigger(&self, trigger: &Trigger) -> String {
        match (self.lang, trigger) {
            (Lang::En, Trigger::Enters { .. }) => "On entering the stage".into(),
            (Lang::Fr, Trigger::Enters { .. }) => "À l'entrée dans l'étape".into(),
            (Lang::En, Trigger::StalledIn { after, .. }) => {
                format!("After {} without moving on", self.duration(*after))
            }
            (Lang::Fr, Trigger::StalledIn { after, .. }) => {
                format!("Après {} sans avancer", self.duration(*after))
            }
            (_, Trigger::Event { condition }) => condition.source.clone(),
        }
    }

    pub(crate) fn holdout(&self, share: f64) -> String {
        let percent = self.number(share * 100.0, 0);
        match self.lang {
            Lang::En => format!("{percent}% holdout"),
            Lang::Fr => format!("témoin {percent} %"),
        }
    }

    pub(crate) fn cap(&self, cap: Cap) -> String {
        match self.lang {
            Lang::En => format!("max {} per {}", cap.count, self.duration(cap.per)),
            Lang::Fr => format!("max {} par {}", cap.count, self.duration(cap.per)),
        }
    }

    /// A number with the language's separators and at most `decimals` decimals.
    pub(crate) fn number(&self, value: f64, decimals: usize) -> String {
        let text = format!("{value:.decimals$}");
        let text = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        };
        let (sign, digits) = text
            .strip_prefix('-')
            .map_or(("", text.as_str()), |d| ("-", d));
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let (group, point) = match self.lang {
            Lang::En => (",", "."),
            Lang::Fr => ("\u{202f}", ","),
        };
        let mut grouped = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push_str(group);
            }
            grouped.push(c);
        }
        if frac.is_empty() {
            format!("{sign}{grouped}")
        } else {
            format!("{sign}{grouped}{point}{frac}")
        }
    }

    /// A KPI value in its unit: `60 %`, `4 min`, `4,3`.
    pub(crate) fn value(&self, value: f64, unit: Unit) -> String {
        match unit {
            Unit::Percent => {
                let percent = self.number(value * 100.0, 1);
                match self.lang {
                    Lang::En => format!("{percent}%"),
                    Lang::Fr => format!("{percent}\u{a0}%"),
                }
            }
            Unit::Seconds if value >= 60.0 && value % 60.0 == 0.0 => {
                format!("{}\u{a0}min", self.number(value / 60.0, 0))
            }
            Unit::Seconds => format!("{}\u{a0}s", self.number(value, 1)),
            Unit::Count => self.number(value, 0),
            Unit::Score | Unit::Number => self.number(value, 2),
        }
    }

    /// `Target: ≤ 60 %`.
    pub(crate) fn target(&self, value: f64, unit: Unit, direction: Direction) -> String {
        let sign = match direction {
            Direction::Higher => "≥",
            Direction::Lower => "≤",
        };
        let colon = match self.lang {
            Lang::En => ":",
            Lang::Fr => "\u{a0}:",
        };
        format!("{}{colon} {sign} {}", self.target, self.value(value, unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_language() {
        let (en, fr) = (Labels::of(Lang::En), Labels::of(Lang::Fr));
        assert_eq!(en.number(500000.0, 0), "500,000");
        assert_eq!(fr.number(500000.0, 0), "500\u{202f}000");
        assert_eq!(fr.number(4.3, 2), "4,3");
        assert_eq!(en.number(-1234.5, 1), "-1,234.5");
        assert_eq!(fr.value(0.025, Unit::Percent), "2,5\u{a0}%");
        assert_eq!(en.value(240.0, Unit::Seconds), "4\u{a0}min");
        assert_eq!(
            en.target(0.6, Unit::Percent, Direction::Lower),
            "Target: ≤ 60%"
        );
    }

    #[test]
    fn durations_read_naturally() {
        let fr = Labels::of(Lang::Fr);
        assert_eq!(fr.duration(Duration::from_secs(4 * 3600)), "4 h");
        assert_eq!(fr.duration(Duration::from_secs(3 * 86_400)), "3 j");
        assert_eq!(
            Labels::of(Lang::En).duration(Duration::from_secs(3 * 86_400)),
            "3d"
        );
    }
}
