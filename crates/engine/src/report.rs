//! The journey results, as serialised in the JSON report (`docs/report-schema.md`).

use serde::Serialize;

use crate::kpi::KpiResult;
use crate::paths::{Paths, TouchpointCount};

/// Version of the JSON report schema (`docs/report-schema.md`).
pub const REPORT_SCHEMA: u32 = 1;

/// Results of one stage.
#[derive(Clone, Debug, Serialize)]
pub struct StageResult {
    /// Stage id.
    pub id: String,
    /// Stage name.
    pub name: String,
    /// Customers who reached it in order within the window.
    pub reached: u64,
    /// Customers whose furthest stage (any order) is this one.
    pub current: u64,
    /// Reached over reached at the previous stage (the first stage: over all customers).
    pub conversion: Option<f64>,
    /// Reached over reached at the first stage.
    pub conversion_from_first: Option<f64>,
    /// Customers who reached it in order and not the next.
    pub drop_off: u64,
    /// Median time from the previous stage, seconds.
    pub median_time_s: Option<f64>,
    /// 90th percentile of the time from the previous stage, seconds.
    pub p90_time_s: Option<f64>,
    /// Touchpoints most often last before customers who stopped here left, with counts.
    pub exit_touchpoints: Vec<TouchpointCount>,
    /// The stage's KPIs.
    pub kpis: Vec<KpiResult>,
}

/// A segment and its size.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentResult {
    /// Segment id.
    pub id: String,
    /// Segment name.
    pub name: String,
    /// Customers in it.
    pub customers: u64,
}

/// A persona and how many customers it holds.
#[derive(Clone, Debug, Serialize)]
pub struct PersonaResult {
    /// Persona id.
    pub id: String,
    /// Persona name.
    pub name: String,
    /// Customers whose first matching persona it is.
    pub customers: u64,
}

/// The analysed period, local dates of the journey's time zone, both included.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Period {
    /// First day.
    pub from: Option<String>,
    /// Last day.
    pub to: Option<String>,
}

/// One group of a breakdown.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// The attribute's value (`(none)` for customers without one).
    pub value: String,
    /// Customers in the group.
    pub customers: u64,
    /// Stage results for the group alone.
    pub stages: Vec<StageResult>,
}

/// Results split by a customer attribute.
#[derive(Clone, Debug, Serialize)]
pub struct BreakdownResult {
    /// What splits them: `persona`, `segment`, `channel`, `prop.NAME`, `trait.NAME`...
    pub by: String,
    /// Groups, largest first.
    pub groups: Vec<Group>,
}

/// One stage in one week.
#[derive(Clone, Debug, Serialize)]
pub struct WeekStage {
    /// Stage id.
    pub id: String,
    /// Customers who reached the stage (in order) during the week.
    pub reached: u64,
    /// Customers who reached the previous stage during the week (the first stage: whose
    /// first event was that week).
    pub entered_previous: u64,
    /// Of those, the share who went on to this stage, whenever.
    pub conversion: Option<f64>,
    /// False while customers of that week may still convert (the week ended less than the
    /// stage's 90th-percentile step time ago).
    pub complete: bool,
}

/// One week of the trend.
#[derive(Clone, Debug, Serialize)]
pub struct Week {
    /// Monday, ISO date.
    pub week: String,
    /// Customers with at least one event that week.
    pub active_customers: u64,
    /// Stages, in journey order.
    pub stages: Vec<WeekStage>,
}

/// What kind of opportunity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityKind {
    /// Many customers stop at this stage.
    DropOff,
    /// The stage's conversion fell against the weeks before.
    ConversionDrop,
    /// A touchpoint is over-represented just before customers leave.
    ExitTouchpoint,
    /// Customers going back and forth between two touchpoints convert worse.
    Loop,
    /// Error-like events became more frequent.
    ErrorSpike,
    /// A group of customers converts much worse than the rest.
    BreakdownGap,
    /// A KPI moved away from its target against the weeks before.
    KpiDrop,
}

/// The attribute value an opportunity is about.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BreakdownValue {
    /// `persona`, `channel`, `trait.NAME`, or for error spikes the property.
    pub property: String,
    /// The value.
    pub value: String,
}

/// A found opportunity.
#[derive(Clone, Debug, Serialize)]
pub struct Opportunity {
    /// What was found.
    pub kind: OpportunityKind,
    /// The stage where customers are lost.
    pub stage: String,
    /// The touchpoint involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub touchpoint: Option<String>,
    /// The group involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<BreakdownValue>,
    /// When it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Estimated customers lost (or affected, for KPI drops and error spikes).
    pub lost_customers: u64,
    /// The KPI involved (`kpi_drop`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpi: Option<String>,
    /// The event involved (`error_spike`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Ratio of the rate found to the reference rate (exit touchpoints, error spikes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift: Option<f64>,
    /// The rate found (a conversion, a share or a KPI value).
    pub observed: f64,
    /// The reference it is compared with.
    pub expected: f64,
    /// Test statistic, in standard errors.
    pub z: f64,
    /// One plain sentence to act on.
    pub summary: String,
}

/// The journey results.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Schema version.
    pub schema: u32,
    /// Journey id.
    pub journey: String,
    /// Journey name.
    pub name: String,
    /// Analysed period.
    pub period: Period,
    /// Customers with at least one event in the period.
    pub customers: u64,
    /// Events in the period.
    pub events: u64,
    /// Stages, in journey order.
    pub stages: Vec<StageResult>,
    /// Personas with their sizes.
    pub personas: Vec<PersonaResult>,
    /// Segments with their sizes.
    pub segments: Vec<SegmentResult>,
    /// Results split by `--by`, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<BreakdownResult>,
    /// Touchpoint paths.
    pub paths: Paths,
    /// Weekly trend.
    pub weeks: Vec<Week>,
    /// Opportunities, most customers at stake first.
    pub opportunities: Vec<Opportunity>,
}
