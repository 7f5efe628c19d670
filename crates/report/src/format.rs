//! Numbers and labels in the journey's language.

use parcours_journey::{Lang, Unit};

/// Formats numbers the way readers of `lang` expect.
#[derive(Clone, Copy, Debug)]
pub struct Fmt {
    /// Language.
    pub lang: Lang,
}

impl Fmt {
    /// A whole number with thousands separators.
    pub fn int(self, n: u64) -> String {
        let digits = n.to_string();
        let sep = match self.lang {
            Lang::Fr => '\u{202f}',
            Lang::En => ',',
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    /// A decimal number.
    pub fn num(self, value: f64, decimals: usize) -> String {
        let text = format!("{value:.decimals$}");
        match self.lang {
            Lang::Fr => text.replace('.', ",").replace('-', "−"),
            Lang::En => text.replace('-', "−"),
        }
    }

    /// A fraction as a percentage.
    pub fn pct(self, value: f64) -> String {
        let decimals = if value.abs() < 0.1 { 1 } else { 0 };
        match self.lang {
            Lang::Fr => format!("{}\u{a0}%", self.num(value * 100.0, decimals)),
            Lang::En => format!("{}%", self.num(value * 100.0, decimals)),
        }
    }

    /// A duration in seconds, in its natural unit.
    pub fn duration(self, seconds: f64) -> String {
        let (value, unit) = if seconds < 120.0 {
            (seconds, "s")
        } else if seconds < 7_200.0 {
            (seconds / 60.0, "min")
        } else if seconds < 172_800.0 {
            (seconds / 3_600.0, "h")
        } else {
            (
                seconds / 86_400.0,
                match self.lang {
                    Lang::Fr => "j",
                    Lang::En => "d",
                },
            )
        };
        let decimals = if value < 10.0 && unit != "s" { 1 } else { 0 };
        format!("{}\u{a0}{unit}", self.num(value, decimals))
    }

    /// A KPI value in its unit.
    pub fn value(self, value: f64, unit: Unit) -> String {
        match unit {
            Unit::Percent => self.pct(value),
            Unit::Count => self.int(value.max(0.0).round() as u64),
            Unit::Seconds => self.duration(value),
            Unit::Score | Unit::Number => self.num(value, if value.abs() >= 100.0 { 0 } else { 1 }),
        }
    }

    /// The report's own words.
    pub fn t(self, key: &str) -> &'static str {
        let fr = self.lang == Lang::Fr;
        match key {
            "customers" => {
                if fr {
                    "clients"
                } else {
                    "customers"
                }
            }
            "events" => {
                if fr {
                    "événements"
                } else {
                    "events"
                }
            }
            "period" => {
                if fr {
                    "Période"
                } else {
                    "Period"
                }
            }
            "opportunities" => {
                if fr {
                    "Opportunités"
                } else {
                    "Opportunities"
                }
            }
            "none_found" => {
                if fr {
                    "Aucune opportunité significative sur cette période."
                } else {
                    "No significant opportunity over this period."
                }
            }
            "map" => {
                if fr {
                    "La carte, mesurée"
                } else {
                    "The map, measured"
                }
            }
            "funnel" => {
                if fr {
                    "Entonnoir"
                } else {
                    "Funnel"
                }
            }
            "trend" => {
                if fr {
                    "Conversion par semaine"
                } else {
                    "Conversion by week"
                }
            }
            "trend_note" => {
                if fr {
                    "Part des clients arrivés à l'étape précédente dans la semaine qui ont atteint l'étape ; points creux : semaine encore incomplète."
                } else {
                    "Share of the customers who reached the previous stage that week who went on to the stage; hollow points: week not complete yet."
                }
            }
            "paths" => {
                if fr {
                    "Chemins entre points de contact"
                } else {
                    "Paths between touchpoints"
                }
            }
            "paths_note" => {
                if fr {
                    "Les cinq premières étapes des chemins (répétitions fusionnées)."
                } else {
                    "The first five steps of paths (repeats merged)."
                }
            }
            "kpis" => {
                if fr {
                    "Indicateurs et cibles"
                } else {
                    "KPIs and targets"
                }
            }
            "kpi" => {
                if fr {
                    "Indicateur"
                } else {
                    "KPI"
                }
            }
            "stage" => {
                if fr {
                    "Étape"
                } else {
                    "Stage"
                }
            }
            "value" => {
                if fr {
                    "Valeur"
                } else {
                    "Value"
                }
            }
            "target" => {
                if fr {
                    "Cible"
                } else {
                    "Target"
                }
            }
            "gap" => {
                if fr {
                    "Écart"
                } else {
                    "Gap"
                }
            }
            "trend_col" => {
                if fr {
                    "4 dernières sem."
                } else {
                    "Last 4 weeks"
                }
            }
            "improving" => {
                if fr {
                    "s'améliore"
                } else {
                    "improving"
                }
            }
            "worsening" => {
                if fr {
                    "se dégrade"
                } else {
                    "worsening"
                }
            }
            "segments" => {
                if fr {
                    "Segments et personas"
                } else {
                    "Segments and personas"
                }
            }
            "reached" => {
                if fr {
                    "atteinte"
                } else {
                    "reached"
                }
            }
            "now" => {
                if fr {
                    "actuellement ici"
                } else {
                    "here now"
                }
            }
            "conversion" => "conversion",
            "median" => {
                if fr {
                    "médiane"
                } else {
                    "median"
                }
            }
            "lost" => {
                if fr {
                    "clients perdus (est.)"
                } else {
                    "customers lost (est.)"
                }
            }
            "breakdown" => {
                if fr {
                    "Par"
                } else {
                    "By"
                }
            }
            "transitions" => {
                if fr {
                    "Transitions les plus fréquentes"
                } else {
                    "Most frequent transitions"
                }
            }
            "measured" => {
                if fr {
                    "mesuré"
                } else {
                    "measured"
                }
            }
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_and_english_numbers() {
        let fr = Fmt { lang: Lang::Fr };
        let en = Fmt { lang: Lang::En };
        assert_eq!(fr.int(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(en.int(1_234_567), "1,234,567");
        assert_eq!(en.int(12), "12");
        assert_eq!(fr.pct(0.625), "62\u{a0}%");
        assert_eq!(fr.pct(0.049), "4,9\u{a0}%");
        assert_eq!(en.duration(5_400.0), "90\u{a0}min");
        assert_eq!(fr.duration(3.0 * 86_400.0), "3,0\u{a0}j");
        assert_eq!(en.num(-1.5, 1), "−1.5");
    }
}
