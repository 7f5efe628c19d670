//! The indicators seed 001 names, ready to use with `builtin = "..."`.
//!
//! Each built-in expands to a [`Measure`](crate::Measure) whose parts (`numerator`,
//! `denominator`, `events`, `property`) have defaults written in the condition language;
//! a KPI may override any part. `docs/journey-file.md` lists them.

use crate::model::{Direction, Unit};

/// A KPI kind Parcours knows how to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinKpi {
    /// Clicks over impressions or delivered emails.
    ClickThroughRate,
    /// Ad and social impressions.
    Impressions,
    /// Time spent per session.
    TimeSpent,
    /// Pages or screens viewed per customer.
    PagesViewed,
    /// Share of customers from the previous stage who reached this one.
    ConversionRate,
    /// Carts not followed by a purchase within 24 hours.
    CartAbandonment,
    /// Mean satisfaction (CSAT) answer.
    Satisfaction,
    /// Complaints received.
    Complaints,
    /// Buyers who bought again.
    RepurchaseRate,
    /// Net Promoter Score.
    Nps,
}

/// How a built-in is computed, which decides the parts it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `numerator` / `denominator`, counting events.
    EventRatio,
    /// `numerator` / `denominator`, counting customers.
    CustomerRatio,
    /// Count of `events`.
    Count,
    /// `events` per customer.
    PerCustomer,
    /// Mean of `property` over `events`.
    Mean,
    /// NPS of `property` over `events`.
    Nps,
    /// Session time from `events`.
    TimeSpent,
    /// The engine's stage conversion.
    StageConversion,
}

impl Shape {
    /// The parts a KPI of this shape may set.
    pub fn parts(self) -> &'static [&'static str] {
        match self {
            Shape::EventRatio | Shape::CustomerRatio => &["numerator", "denominator"],
            Shape::Count | Shape::PerCustomer | Shape::TimeSpent => &["events"],
            Shape::Mean | Shape::Nps => &["events", "property"],
            Shape::StageConversion => &[],
        }
    }
}

/// Everything known about one built-in.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinSpec {
    /// The kind.
    pub kind: BuiltinKpi,
    /// Name written in journey files.
    pub name: &'static str,
    /// One line for documentation and `--list` output.
    pub summary: &'static str,
    /// How it is computed.
    pub shape: Shape,
    /// Default unit.
    pub unit: Unit,
    /// Default direction.
    pub direction: Direction,
    /// Default text for each part, in [`Shape::parts`] order.
    pub defaults: &'static [&'static str],
}

const PAGE_OR_SCREEN: &str = r#"type in ["page", "screen"]"#;

/// Every built-in, in seed 001's order.
pub const BUILTINS: [BuiltinSpec; 10] = [
    BuiltinSpec {
        kind: BuiltinKpi::ClickThroughRate,
        name: "click_through_rate",
        summary: "clicks on ads and emails over ad impressions and emails sent",
        shape: Shape::EventRatio,
        unit: Unit::Percent,
        direction: Direction::Higher,
        defaults: &[
            r#"event in ["ad_clicked", "email_clicked"]"#,
            r#"event in ["ad_impression", "email_sent"]"#,
        ],
    },
    BuiltinSpec {
        kind: BuiltinKpi::Impressions,
        name: "impressions",
        summary: "number of ad and social impressions",
        shape: Shape::Count,
        unit: Unit::Count,
        direction: Direction::Higher,
        defaults: &[r#"event in ["ad_impression", "social_impression"]"#],
    },
    BuiltinSpec {
        kind: BuiltinKpi::TimeSpent,
        name: "time_spent",
        summary: "median session length, sessions ending after 30 minutes without a page or screen view",
        shape: Shape::TimeSpent,
        unit: Unit::Seconds,
        direction: Direction::Higher,
        defaults: &[PAGE_OR_SCREEN],
    },
    BuiltinSpec {
        kind: BuiltinKpi::PagesViewed,
        name: "pages_viewed",
        summary: "pages and screens viewed per customer in the stage",
        shape: Shape::PerCustomer,
        unit: Unit::Number,
        direction: Direction::Higher,
        defaults: &[PAGE_OR_SCREEN],
    },
    BuiltinSpec {
        kind: BuiltinKpi::ConversionRate,
        name: "conversion_rate",
        summary: "customers who reached this stage over those who reached the previous one",
        shape: Shape::StageConversion,
        unit: Unit::Percent,
        direction: Direction::Higher,
        defaults: &[],
    },
    BuiltinSpec {
        kind: BuiltinKpi::CartAbandonment,
        name: "cart_abandonment",
        summary: "carts not followed by a purchase within 24 hours",
        shape: Shape::EventRatio,
        unit: Unit::Percent,
        direction: Direction::Lower,
        defaults: &[
            r#"event == "add_to_cart" and not followed_by(event == "purchase", 24h)"#,
            r#"event == "add_to_cart""#,
        ],
    },
    BuiltinSpec {
        kind: BuiltinKpi::Satisfaction,
        name: "satisfaction",
        summary: "mean satisfaction survey answer (CSAT, 1 to 5)",
        shape: Shape::Mean,
        unit: Unit::Score,
        direction: Direction::Higher,
        defaults: &[
            r#"event == "survey_answered" and prop.survey == "csat""#,
            "score",
        ],
    },
    BuiltinSpec {
        kind: BuiltinKpi::Complaints,
        name: "complaints",
        summary: "complaints received, directly or as support tickets of kind complaint",
        shape: Shape::Count,
        unit: Unit::Count,
        direction: Direction::Lower,
        defaults: &[
            r#"event == "complaint" or (event == "support_ticket" and prop.kind == "complaint")"#,
        ],
    },
    BuiltinSpec {
        kind: BuiltinKpi::RepurchaseRate,
        name: "repurchase_rate",
        summary: "buyers with at least two purchases over buyers",
        shape: Shape::CustomerRatio,
        unit: Unit::Percent,
        direction: Direction::Higher,
        defaults: &[
            r#"count(event == "purchase") >= 2"#,
            r#"count(event == "purchase") >= 1"#,
        ],
    },
    BuiltinSpec {
        kind: BuiltinKpi::Nps,
        name: "nps",
        summary: "Net Promoter Score: % of 9-10 answers minus % of 0-6 answers, latest answer per customer",
        shape: Shape::Nps,
        unit: Unit::Score,
        direction: Direction::Higher,
        defaults: &[
            r#"event == "survey_answered" and prop.survey == "nps""#,
            "score",
        ],
    },
];

impl BuiltinKpi {
    /// Its full description.
    pub fn spec(self) -> &'static BuiltinSpec {
        BUILTINS
            .iter()
            .find(|b| b.kind == self)
            .expect("every kind has a spec")
    }

    /// The built-in with this name.
    pub fn from_name(name: &str) -> Option<BuiltinKpi> {
        BUILTINS.iter().find(|b| b.name == name).map(|b| b.kind)
    }

    /// The name written in journey files.
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parcours_expr::{Names, Scope, compile};

    #[test]
    fn every_default_is_a_valid_condition_of_its_shape() {
        let names = Names {
            channels: &crate::Channel::NAMES,
            ..Names::default()
        };
        for spec in BUILTINS {
            assert_eq!(
                spec.defaults.len(),
                spec.shape.parts().len(),
                "{}",
                spec.name
            );
            for (part, text) in spec.shape.parts().iter().zip(spec.defaults) {
                if *part == "property" {
                    continue;
                }
                let scope = match spec.shape {
                    Shape::CustomerRatio => Scope::customer(names),
                    _ => Scope::event(names),
                };
                compile(text, &scope).unwrap_or_else(|e| panic!("{} {part}: {e:?}", spec.name));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for spec in BUILTINS {
            assert_eq!(BuiltinKpi::from_name(spec.name), Some(spec.kind));
            assert_eq!(spec.kind.name(), spec.name);
        }
    }
}
