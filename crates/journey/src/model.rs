//! The journey as the rest of Parcours sees it: plain, validated data.

use std::fmt;
use std::path::PathBuf;

use parcours_expr::{Duration, Expr};
use serde::Serialize;

/// A whole journey file, validated: every reference resolves, every expression is typed.
#[derive(Clone, Debug, PartialEq)]
pub struct Journey {
    /// Short stable id (`shop`).
    pub id: String,
    /// Title shown on the map.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// What the map is for (seed 000, step 1: define your objectives).
    pub goal: Option<String>,
    /// Current state, future state or day in the life.
    pub kind: Kind,
    /// Longest time allowed from the first stage to the last, if bounded.
    pub window: Option<Duration>,
    /// IANA time zone used for days, weeks and quiet hours.
    pub timezone: String,
    /// Language of the map's own labels.
    pub lang: Lang,
    /// Who travels the journey.
    pub personas: Vec<Persona>,
    /// Where customers meet the brand.
    pub touchpoints: Vec<Touchpoint>,
    /// The stages, in journey order.
    pub stages: Vec<Stage>,
    /// Indicators to watch, each on one stage.
    pub kpis: Vec<Kpi>,
    /// Named groups of customers.
    pub segments: Vec<Segment>,
    /// Emails sent to customers at moments of the journey.
    pub plays: Vec<Play>,
}

impl Journey {
    /// The stage with this id.
    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The touchpoint with this id.
    pub fn touchpoint(&self, id: &str) -> Option<&Touchpoint> {
        self.touchpoints.iter().find(|t| t.id == id)
    }

    /// The persona with this id.
    pub fn persona(&self, id: &str) -> Option<&Persona> {
        self.personas.iter().find(|p| p.id == id)
    }

    /// The KPIs attached to a stage, in file order.
    pub fn kpis_of<'a>(&'a self, stage: &'a str) -> impl Iterator<Item = &'a Kpi> + 'a {
        self.kpis.iter().filter(move |k| k.stage == stage)
    }
}

/// The three kinds of journey map the seeds name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// What customers do today.
    Current,
    /// What customers should do, with targets.
    Future,
    /// Everything a customer does in a day, on a 24-hour timeline.
    DayInTheLife,
}

impl Kind {
    /// Every kind, in the order documentation lists them.
    pub const ALL: [Kind; 3] = [Kind::Current, Kind::Future, Kind::DayInTheLife];

    /// The name written in journey files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Current => "current",
            Kind::Future => "future",
            Kind::DayInTheLife => "day-in-the-life",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Language of the labels Parcours draws around the user's own text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl Lang {
    /// Every language, as written in journey files.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The code written in journey files.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }
}

/// A condition as written (for display) and as checked (for evaluation).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The text from the journey file.
    pub source: String,
    /// The typed tree.
    pub expr: Expr,
}

/// A kind of customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Persona {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Who they are.
    pub description: Option<String>,
    /// Which customers belong to it.
    pub rule: Option<Condition>,
    /// What they want to achieve.
    pub goals: Vec<String>,
    /// Why they engage (seed 000, step 3).
    pub motivations: Vec<String>,
}

/// How a touchpoint reaches the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// Website.
    Web,
    /// Email.
    Email,
    /// Paid advertising.
    Ads,
    /// Social networks.
    Social,
    /// Sales team.
    Sales,
    /// Customer support.
    Support,
    /// Inside the product or app.
    InApp,
    /// Physical shop.
    Store,
    /// Telephone.
    Phone,
    /// Anything else.
    Other,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 10] = [
        Channel::Web,
        Channel::Email,
        Channel::Ads,
        Channel::Social,
        Channel::Sales,
        Channel::Support,
        Channel::InApp,
        Channel::Store,
        Channel::Phone,
        Channel::Other,
    ];

    /// Every channel name, as written in files and expressions.
    pub const NAMES: [&'static str; 10] = [
        "web", "email", "ads", "social", "sales", "support", "in-app", "store", "phone", "other",
    ];

    /// The name written in journey files.
    pub fn as_str(self) -> &'static str {
        Channel::NAMES[self as usize]
    }

    /// The channel with this name.
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Channel::ALL[i])
    }
}

/// A time of day, in minutes after midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(pub u16);

impl TimeOfDay {
    /// Minutes after midnight (0–1439).
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A span of the day; `end` before `start` means it runs past midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// When it begins.
    pub start: TimeOfDay,
    /// When it ends.
    pub end: TimeOfDay,
}

impl TimeRange {
    /// True when the range runs past midnight (`22:00-07:00`).
    pub fn wraps(self) -> bool {
        self.end < self.start
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A place where customer and brand meet.
#[derive(Clone, Debug, PartialEq)]
pub struct Touchpoint {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// How it reaches the customer.
    pub channel: Channel,
    /// What it is.
    pub description: Option<String>,
    /// Which events are interactions with it.
    pub matches: Option<Condition>,
    /// Times of day it is typically used (day-in-the-life maps).
    pub at: Vec<TimeOfDay>,
    /// Personas who use it; empty means all.
    pub personas: Vec<String>,
}

/// One stage of the journey.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// What the customer wants here.
    pub goal: Option<String>,
    /// The events that put a customer in this stage.
    pub enter: Option<Condition>,
    /// Touchpoint ids used in this stage.
    pub touchpoints: Vec<String>,
    /// What the customer does.
    pub actions: Vec<String>,
    /// Why the customer acts.
    pub motivations: Vec<String>,
    /// What the customer thinks.
    pub thoughts: Vec<String>,
    /// How the customer feels, from -2 (very bad) to +2 (very good).
    pub emotion: Option<f64>,
    /// Obstacles and frictions.
    pub pain_points: Vec<String>,
    /// Ideas to improve the stage.
    pub opportunities: Vec<String>,
    /// The team in charge.
    pub owner: Option<String>,
    /// Hours of the day the stage covers (day-in-the-life maps).
    pub hours: Option<TimeRange>,
}

/// Which is better for a KPI: more or less.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher values are better.
    Higher,
    /// Lower values are better.
    Lower,
}

/// How a KPI value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A fraction from 0 to 1, shown as a percentage.
    Percent,
    /// A count.
    Count,
    /// A duration in seconds.
    Seconds,
    /// A score on the KPI's own scale (satisfaction out of 5, NPS from -100 to 100).
    Score,
    /// Any other number.
    Number,
}

impl Unit {
    /// Every unit, as written in journey files.
    pub const NAMES: [&'static str; 5] = ["percent", "count", "seconds", "score", "number"];

    /// The unit with this name; `%` and `s` are accepted shorthands.
    pub fn from_name(name: &str) -> Option<Unit> {
        Some(match name {
            "percent" | "%" => Unit::Percent,
            "count" => Unit::Count,
            "seconds" | "s" => Unit::Seconds,
            "score" => Unit::Score,
            "number" => Unit::Number,
            _ => return None,
        })
    }
}

/// What a KPI counts.
#[derive(Clone, Debug, PartialEq)]
pub enum Measure {
    /// Events matching `numerator` over events matching `denominator`.
    EventRatio {
        /// Counted events.
        numerator: Condition,
        /// Reference events.
        denominator: Condition,
    },
    /// Customers satisfying `numerator` over customers satisfying `denominator`.
    CustomerRatio {
        /// Counted customers.
        numerator: Condition,
        /// Reference customers.
        denominator: Condition,
    },
    /// How many events match.
    Count {
        /// Counted events.
        events: Condition,
    },
    /// Matching events per customer in the stage, on average.
    PerCustomer {
        /// Counted events.
        events: Condition,
    },
    /// Mean of a numeric property over matching events.
    Mean {
        /// Events carrying the value.
        events: Condition,
        /// Property holding the value.
        property: String,
    },
    /// Net Promoter Score from 0–10 answers: % of 9–10 minus % of 0–6.
    Nps {
        /// Survey answers.
        events: Condition,
        /// Property holding the 0–10 score.
        property: String,
    },
    /// Time spent per session, sessions cut after 30 minutes without a matching event.
    TimeSpent {
        /// Activity events (page or screen views).
        events: Condition,
    },
    /// Share of customers who reached the previous stage and then this one.
    StageConversion,
}

/// An indicator to watch on a stage.
#[derive(Clone, Debug, PartialEq)]
pub struct Kpi {
    /// Stable id.
    pub id: String,
    /// The stage it belongs to.
    pub stage: String,
    /// Display name.
    pub name: String,
    /// The built-in it derives from, if any.
    pub builtin: Option<crate::BuiltinKpi>,
    /// What it measures.
    pub measure: Measure,
    /// How its value reads.
    pub unit: Unit,
    /// Target value (for a future-state map: the goal).
    pub target: Option<f64>,
    /// Whether higher or lower is better.
    pub direction: Direction,
    /// Longer description.
    pub description: Option<String>,
}

/// A named group of customers.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Who is in it.
    pub description: Option<String>,
    /// The membership rule.
    pub rule: Condition,
}

/// When a play sends its email.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// When a customer enters the stage.
    Enters {
        /// Stage id.
        stage: String,
    },
    /// When a customer has stayed in the stage for a while without moving on.
    StalledIn {
        /// Stage id.
        stage: String,
        /// How long counts as stalled.
        after: Duration,
    },
    /// When a customer does something.
    Event {
        /// Which events fire the play.
        condition: Condition,
    },
}

/// At most `count` emails per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cap {
    /// How many emails.
    pub count: u32,
    /// Over how long.
    pub per: Duration,
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per)
    }
}

/// An email attached to a moment of the journey.
#[derive(Clone, Debug, PartialEq)]
pub struct Play {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the email is for.
    pub description: Option<String>,
    /// When it is sent.
    pub trigger: Trigger,
    /// Only customers of this segment receive it.
    pub segment: Option<String>,
    /// Only customers of this persona receive it.
    pub persona: Option<String>,
    /// MJML template, relative to the journey file.
    pub template: PathBuf,
    /// Subject line, with `{{ variables }}`.
    pub subject: String,
    /// Sender address, if not the default.
    pub from: Option<String>,
    /// Share of eligible customers kept out to measure the play's effect.
    pub holdout: f64,
    /// Frequency cap.
    pub cap: Option<Cap>,
    /// Hours during which nothing is sent.
    pub quiet_hours: Option<TimeRange>,
}

impl Play {
    /// The stage the play is attached to, if its trigger names one.
    pub fn stage(&self) -> Option<&str> {
        match &self.trigger {
            Trigger::Enters { stage } | Trigger::StalledIn { stage, .. } => Some(stage),
            Trigger::Event { .. } => None,
        }
    }
}
