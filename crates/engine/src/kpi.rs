//! KPIs: each journey indicator compiled to conditions, measured customer by customer into
//! weekly cells, then turned into a value, a gap to its target and a direction of travel.

use parcours_journey::{Direction, Kpi, Measure, Unit};
use serde::Serialize;

use crate::cond::{
    CodeInfo, CodeSet, Cond, EventTexts, History, Names, Scope, bits, json_path, resolve_bits,
};
use crate::funnel::Millis;
use crate::stats::{Moments, Proportion, Quantiles};

/// Sessions end after this long without an activity event.
pub const SESSION_GAP: Millis = 30 * 60 * 1000;

/// How a KPI is computed, with its compiled conditions.
#[derive(Debug)]
pub(crate) enum Plan {
    EventRatio {
        numerator: usize,
        denominator: usize,
    },
    CustomerRatio {
        numerator: Box<Cond>,
        denominator: Box<Cond>,
    },
    Count {
        events: usize,
    },
    PerCustomer {
        events: usize,
    },
    Mean {
        events: usize,
        property: String,
    },
    Nps {
        events: usize,
        property: String,
    },
    TimeSpent {
        events: usize,
    },
    StageConversion,
}

impl Plan {
    /// For KPIs counting events (counts, event ratios): the event condition of what is
    /// counted, and the denominator's for a ratio.
    pub fn counted_events(&self) -> Option<(usize, Option<usize>)> {
        match *self {
            Plan::Count { events } => Some((events, None)),
            Plan::EventRatio {
                numerator,
                denominator,
            } => Some((numerator, Some(denominator))),
            _ => None,
        }
    }
}

/// One KPI ready to measure.
#[derive(Debug)]
pub(crate) struct CompiledKpi {
    pub stage: usize,
    pub plan: Plan,
}

/// The event conditions of all KPIs, each decided once per event code where it can be.
#[derive(Debug, Default)]
pub(crate) struct EventConds {
    pub conds: Vec<Cond>,
    /// Per condition, per catalogue entry: the decision from the code alone.
    pub by_code: Vec<Vec<Option<bool>>>,
    /// Per catalogue entry: the conditions the code alone meets, as bits (when there are
    /// at most 64 conditions), and those that need the event itself.
    met_by_code: Vec<u64>,
    open_by_code: Vec<u64>,
}

impl EventConds {
    /// The conditions the catalogue entry `code` alone meets and those that need the event
    /// itself, as bits; `None` when the conditions are too many for bits.
    pub fn bits_of(&self, code: usize) -> Option<(u64, u64)> {
        if self.conds.is_empty() {
            return Some((0, 0));
        }
        Some((*self.met_by_code.get(code)?, *self.open_by_code.get(code)?))
    }

    /// True when every event an event code leaves open can be decided before the customer
    /// is placed: the conditions are kept as bits and none reads the stage or persona.
    pub fn decided_before_placing(&self) -> bool {
        (self.conds.is_empty() || !self.met_by_code.is_empty())
            && self.conds.iter().all(|c| !c.reads_customer)
    }

    fn add(&mut self, cond: Cond) -> usize {
        self.conds.push(cond);
        self.conds.len() - 1
    }

    /// Decides every condition per event code.
    pub fn decide(
        &mut self,
        catalog: &[CodeInfo],
        touchpoint_by_code: &[Option<Option<u16>>],
        names: &Names<'_>,
    ) {
        self.by_code = self
            .conds
            .iter()
            .map(|cond| {
                catalog
                    .iter()
                    .zip(touchpoint_by_code)
                    .map(|(info, &tp)| cond.on_code(info, tp, names))
                    .collect()
            })
            .collect();
        if self.conds.len() <= 64 {
            let bits = |want: Option<bool>, code: usize| {
                self.by_code
                    .iter()
                    .enumerate()
                    .filter(|(_, by_code)| by_code[code] == want)
                    .fold(0u64, |bits, (c, _)| bits | 1 << c)
            };
            self.met_by_code = (0..catalog.len())
                .map(|code| bits(Some(true), code))
                .collect();
            self.open_by_code = (0..catalog.len()).map(|code| bits(None, code)).collect();
        }
    }
}

/// Compiles the journey's KPIs; event conditions go to `events`.
pub(crate) fn compile(
    kpis: &[Kpi],
    stage_index: impl Fn(&str) -> usize,
    names: &Names<'_>,
    events: &mut EventConds,
) -> Vec<CompiledKpi> {
    let mut add = |c: &parcours_journey::Condition| events.add(Cond::compile(&c.expr, names));
    kpis.iter()
        .map(|kpi| {
            let plan = match &kpi.measure {
                Measure::EventRatio {
                    numerator,
                    denominator,
                } => Plan::EventRatio {
                    numerator: add(numerator),
                    denominator: add(denominator),
                },
                Measure::CustomerRatio {
                    numerator,
                    denominator,
                } => Plan::CustomerRatio {
                    numerator: Box::new(Cond::compile(&numerator.expr, names)),
                    denominator: Box::new(Cond::compile(&denominator.expr, names)),
                },
                Measure::Count { events } => Plan::Count {
                    events: add(events),
                },
                Measure::PerCustomer { events } => Plan::PerCustomer {
                    events: add(events),
                },
                Measure::Mean { events, property } => Plan::Mean {
                    events: add(events),
                    property: property.clone(),
                },
                Measure::Nps { events, property } => Plan::Nps {
                    events: add(events),
                    property: property.clone(),
                },
                Measure::TimeSpent { events } => Plan::TimeSpent {
                    events: add(events),
                },
                Measure::StageConversion => Plan::StageConversion,
            };
            CompiledKpi {
                stage: stage_index(&kpi.stage),
                plan,
            }
        })
        .collect()
}

/// What one customer adds to one KPI in one week.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delta {
    pub week: u16,
    pub num: f64,
    pub den: f64,
    pub squares: f64,
    /// A session length in seconds (time spent).
    pub session: Option<u32>,
}

/// A KPI's running sums over some customers and weeks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cell {
    pub num: f64,
    pub den: f64,
    pub squares: f64,
    pub sessions: Quantiles,
}

impl Cell {
    pub fn add(&mut self, delta: &Delta) {
        self.num += delta.num;
        self.den += delta.den;
        self.squares += delta.squares;
        if let Some(s) = delta.session {
            self.sessions.add(i64::from(s));
        }
    }

    pub fn merge(&mut self, other: &Cell) {
        self.num += other.num;
        self.den += other.den;
        self.squares += other.squares;
        self.sessions.merge(&other.sessions);
    }

    pub fn proportion(&self) -> Proportion {
        Proportion {
            hits: self.num,
            trials: self.den,
        }
    }

    pub fn moments(&self) -> Moments {
        Moments {
            n: self.den,
            sum: self.num,
            squares: self.squares,
        }
    }
}

/// Per-event matches of the KPI event conditions for one customer: `matched[cond]` holds the
/// indices of the matching events.
pub(crate) fn match_events(
    conds: &EventConds,
    scope: &Scope<'_>,
    history: &mut History,
    matched: &mut [Vec<u32>],
) {
    for list in matched.iter_mut() {
        list.clear();
    }
    if !conds.met_by_code.is_empty() || conds.conds.is_empty() {
        // Most events meet none of the conditions: two bit sets per code say which.
        for (i, event) in scope.events.iter().enumerate() {
            let code = event.code as usize;
            let met = resolve_bits(
                conds.met_by_code.get(code).copied().unwrap_or(0),
                conds.open_by_code.get(code).copied().unwrap_or(0),
                |c| conds.conds[c].on_event(scope, history, i),
            );
            for c in bits(met) {
                matched[c].push(i as u32);
            }
        }
        return;
    }
    for (i, event) in scope.events.iter().enumerate() {
        let code = event.code as usize;
        for (c, cond) in conds.conds.iter().enumerate() {
            let hit = match conds.by_code[c].get(code).copied().flatten() {
                Some(decided) => decided,
                None => cond.on_event(scope, history, i),
            };
            if hit {
                matched[c].push(i as u32);
            }
        }
    }
}

/// Everything a KPI needs to know about one customer.
pub(crate) struct CustomerKpiInput<'a, 'b> {
    pub scope: &'a Scope<'b>,
    pub matched: &'a [Vec<u32>],
    /// When the customer first met each stage (any order).
    pub first_met: &'a [Option<Millis>],
    /// The week of each event.
    pub weeks: &'a [u16],
    pub week_of: &'a dyn Fn(Millis) -> u16,
    /// The codes among the customer's events.
    pub present: &'a CodeSet,
}

/// Adds one customer's contributions to `kpi` into `out`.
pub(crate) fn contribute(
    kpi: &CompiledKpi,
    input: &CustomerKpiInput<'_, '_>,
    history: &mut History,
    out: &mut Vec<Delta>,
) {
    let events = input.scope.events;
    let week = |i: u32| input.weeks[i as usize];
    let one = |week: u16, num: f64, den: f64| Delta {
        week,
        num,
        den,
        ..Delta::default()
    };
    match &kpi.plan {
        Plan::EventRatio {
            numerator,
            denominator,
        } => {
            for &i in &input.matched[*numerator] {
                tick(out, week(i), 1.0, 0.0);
            }
            for &i in &input.matched[*denominator] {
                tick(out, week(i), 0.0, 1.0);
            }
        }
        Plan::CustomerRatio {
            numerator,
            denominator,
        } => {
            if denominator.on_customer_among(input.scope, history, input.present) {
                let last = input.weeks.last().copied().unwrap_or(0);
                let hit = numerator.on_customer_among(input.scope, history, input.present);
                out.push(one(last, if hit { 1.0 } else { 0.0 }, 1.0));
            }
        }
        Plan::Count { events: c } => {
            for &i in &input.matched[*c] {
                tick(out, week(i), 1.0, 0.0);
            }
        }
        Plan::PerCustomer { events: c } => {
            if let Some(entered) = input.first_met.get(kpi.stage).copied().flatten() {
                let w = (input.week_of)(entered);
                let n = input.matched[*c].len() as f64;
                out.push(one(w, n, 1.0));
            }
        }
        Plan::Mean {
            events: c,
            property,
        } => {
            for &i in &input.matched[*c] {
                if let Some(v) = number_property(history, &input.scope.texts, i as usize, property)
                {
                    out.push(Delta {
                        week: week(i),
                        num: v,
                        den: 1.0,
                        squares: v * v,
                        session: None,
                    });
                }
            }
        }
        Plan::Nps {
            events: c,
            property,
        } => {
            // The latest answer counts.
            let latest = input.matched[*c].iter().rev().find_map(|&i| {
                number_property(history, &input.scope.texts, i as usize, property).map(|v| (i, v))
            });
            if let Some((i, score)) = latest {
                let signed = if score >= 9.0 {
                    1.0
                } else if score <= 6.0 {
                    -1.0
                } else {
                    0.0
                };
                out.push(Delta {
                    week: week(i),
                    num: signed,
                    den: 1.0,
                    squares: signed * signed,
                    session: None,
                });
            }
        }
        Plan::TimeSpent { events: c } => {
            // (first event, its time, the time of the last): a session counts in the week
            // of its first event.
            let mut session: Option<(u32, Millis, Millis)> = None;
            let close = |first: u32, start: Millis, end: Millis, out: &mut Vec<Delta>| {
                out.push(Delta {
                    week: week(first),
                    session: Some(((end - start) / 1000).clamp(0, u32::MAX as i64) as u32),
                    ..Delta::default()
                });
            };
            for &i in &input.matched[*c] {
                let at = events[i as usize].at;
                session = match session {
                    Some((first, start, last)) if at - last <= SESSION_GAP => {
                        Some((first, start, at))
                    }
                    Some((first, start, last)) => {
                        close(first, start, last, out);
                        Some((i, at, at))
                    }
                    None => Some((i, at, at)),
                };
            }
            if let Some((first, start, last)) = session {
                close(first, start, last, out);
            }
        }
        Plan::StageConversion => {}
    }
}

/// Counts one event into `out`: into the last delta when it is of the same week and counts
/// events too (matches come in time order, so a customer's events of a week make one
/// delta rather than one each).
fn tick(out: &mut Vec<Delta>, week: u16, num: f64, den: f64) {
    match out.last_mut() {
        Some(last) if last.week == week && last.session.is_none() && last.squares == 0.0 => {
            last.num += num;
            last.den += den;
        }
        _ => out.push(Delta {
            week,
            num,
            den,
            ..Delta::default()
        }),
    }
}

/// A number read from a property (numbers and numeric texts).
pub(crate) fn number_property(
    history: &mut History,
    texts: &EventTexts<'_>,
    index: usize,
    path: &str,
) -> Option<f64> {
    let json = history.json(index, false, texts.properties(index)?)?;
    match json_path(json, path)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The value of a KPI over the cell.
pub(crate) fn value(plan: &Plan, cell: &Cell) -> Option<f64> {
    let ratio = |n: f64, d: f64| (d > 0.0).then(|| n / d);
    match plan {
        Plan::EventRatio { .. }
        | Plan::CustomerRatio { .. }
        | Plan::PerCustomer { .. }
        | Plan::Mean { .. }
        | Plan::StageConversion => ratio(cell.num, cell.den),
        Plan::Count { .. } => Some(cell.num),
        Plan::Nps { .. } => ratio(cell.num * 100.0, cell.den),
        Plan::TimeSpent { .. } => cell.sessions.quantile(0.5).map(|s| s as f64),
    }
}

/// A KPI's result.
#[derive(Clone, Debug, Serialize)]
pub struct KpiResult {
    /// KPI id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The built-in it derives from.
    pub builtin: Option<&'static str>,
    /// How the value reads.
    pub unit: Unit,
    /// Whether higher or lower is better.
    pub direction: Direction,
    /// Value over the period (`null` without data).
    pub value: Option<f64>,
    /// Target from the journey file.
    pub target: Option<f64>,
    /// `value - target`.
    pub gap: Option<f64>,
    /// Whether the value meets the target.
    pub on_target: Option<bool>,
    /// Value over the last four weeks (counts: per week).
    pub recent: Option<f64>,
    /// Value over the four weeks before (counts: per week).
    pub previous: Option<f64>,
    /// True when `recent` is closer to the target than `previous` (better, without a
    /// target).
    pub improving: Option<bool>,
    /// What the value is computed over: events, customers, answers or sessions.
    pub samples: f64,
}

/// Builds a KPI's result from its whole-period cell and, when known, its weekly cells
/// (`weekly` empty for breakdown groups).
pub(crate) fn result(kpi: &Kpi, plan: &Plan, total: &Cell, weekly: &[Cell]) -> KpiResult {
    let value = value(plan, total);
    let gap = match (value, kpi.target) {
        (Some(v), Some(t)) => Some(v - t),
        _ => None,
    };
    let on_target = gap.map(|g| match kpi.direction {
        Direction::Higher => g >= 0.0,
        Direction::Lower => g <= 0.0,
    });
    let (recent, previous) = recent_and_previous(plan, weekly);
    // A count's target is for the whole period, not a week: only its direction tells.
    let target = kpi.target.filter(|_| !matches!(plan, Plan::Count { .. }));
    let improving = match (recent, previous) {
        (Some(r), Some(p)) => Some(match target {
            Some(t) => (r - t).abs() < (p - t).abs(),
            None => match kpi.direction {
                Direction::Higher => r > p,
                Direction::Lower => r < p,
            },
        }),
        _ => None,
    };
    let samples = match plan {
        Plan::TimeSpent { .. } => total.sessions.len() as f64,
        Plan::Count { .. } => total.num,
        _ => total.den,
    };
    KpiResult {
        id: kpi.id.clone(),
        name: kpi.name.clone(),
        builtin: kpi.builtin.map(|b| b.name()),
        unit: kpi.unit,
        direction: kpi.direction,
        value,
        target: kpi.target,
        gap,
        on_target,
        recent,
        previous,
        improving,
        samples,
    }
}

/// Weeks compared to tell whether a KPI improves.
pub const TREND_WEEKS: usize = 4;

/// The value over the last [`TREND_WEEKS`] weeks and over the ones before (halves of the
/// period when it is shorter than twice that).
fn recent_and_previous(plan: &Plan, weekly: &[Cell]) -> (Option<f64>, Option<f64>) {
    let n = weekly.len();
    if n < 2 {
        return (None, None);
    }
    let span = TREND_WEEKS.min(n / 2);
    let sum = |cells: &[Cell]| {
        let mut total = Cell::default();
        for c in cells {
            total.merge(c);
        }
        total
    };
    let recent = sum(&weekly[n - span..]);
    let previous = sum(&weekly[n - 2 * span..n - span]);
    let read = |cell: &Cell| match plan {
        Plan::Count { .. } => Some(cell.num / span as f64),
        _ => value(plan, cell),
    };
    (read(&recent), read(&previous))
}
