//! Journey results: every customer placed, then counted stage by stage.

use std::collections::HashMap;
use std::path::Path;

use parcours_journey::Journey;
use parcours_store::StoreError;
use parcours_store::scan::{
    CustomerEvents, ScanColumns, event_codes, scan_customers, traits_named,
};
use serde::Serialize;

use crate::cond::{CodeInfo, Cond, CustomerState, EventView, History, Names, Scope};
use crate::funnel::{Hit, Millis, Placement, place};

/// Version of the JSON report schema (`docs/report-schema.md`).
pub const REPORT_SCHEMA: u32 = 1;

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to analyse.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only events at or after this time.
    pub from: Option<Millis>,
    /// Only events before this time.
    pub to: Option<Millis>,
}

/// The journey compiled against the store's event catalogue.
pub struct Model<'j> {
    journey: &'j Journey,
    stage_ids: Vec<String>,
    persona_ids: Vec<String>,
    touchpoint_ids: Vec<String>,
    channels: Vec<&'static str>,
    catalog: Vec<CodeInfo>,
    /// Store code → catalogue index.
    code_index: HashMap<i32, u32>,
    touchpoints: Vec<Option<Cond>>,
    stages: Vec<Option<Cond>>,
    personas: Vec<Option<Cond>>,
    segments: Vec<Cond>,
    /// Per catalogue entry: the touchpoint fixed by the code (`Some(None)`: none), or `None`
    /// when it depends on more than the code.
    touchpoint_by_code: Vec<Option<Option<u16>>>,
    /// Per catalogue entry: stages whose condition the code alone meets.
    stages_met_by_code: Vec<u64>,
    /// Per catalogue entry: stages whose condition needs the event itself.
    stages_open_by_code: Vec<u64>,
    columns: ScanColumns,
    trait_names: Vec<String>,
}

impl<'j> Model<'j> {
    /// Compiles the journey for the store at `root`.
    pub fn new(journey: &'j Journey, root: &Path) -> Result<Model<'j>, EngineError> {
        let mut catalog = Vec::new();
        let mut code_index = HashMap::new();
        for (code, kind, name) in event_codes(root)? {
            code_index.insert(code, catalog.len() as u32);
            catalog.push(CodeInfo {
                kind: kind.as_str().to_string(),
                name,
            });
        }
        let stage_ids: Vec<String> = journey.stages.iter().map(|s| s.id.clone()).collect();
        let persona_ids: Vec<String> = journey.personas.iter().map(|p| p.id.clone()).collect();
        let touchpoint_ids: Vec<String> =
            journey.touchpoints.iter().map(|t| t.id.clone()).collect();
        let channels: Vec<&'static str> = journey
            .touchpoints
            .iter()
            .map(|t| t.channel.as_str())
            .collect();
        let mut model = Model {
            journey,
            stage_ids,
            persona_ids,
            touchpoint_ids,
            channels,
            catalog,
            code_index,
            touchpoints: Vec::new(),
            stages: Vec::new(),
            personas: Vec::new(),
            segments: Vec::new(),
            touchpoint_by_code: Vec::new(),
            stages_met_by_code: Vec::new(),
            stages_open_by_code: Vec::new(),
            columns: ScanColumns::default(),
            trait_names: Vec::new(),
        };
        let names = model.names();
        let compile = |c: &parcours_journey::Condition| Cond::compile(&c.expr, &names);
        let touchpoints: Vec<Option<Cond>> = journey
            .touchpoints
            .iter()
            .map(|t| t.matches.as_ref().map(compile))
            .collect();
        let stages: Vec<Option<Cond>> = journey
            .stages
            .iter()
            .map(|s| s.enter.as_ref().map(compile))
            .collect();
        let personas: Vec<Option<Cond>> = journey
            .personas
            .iter()
            .map(|p| p.rule.as_ref().map(compile))
            .collect();
        let segments: Vec<Cond> = journey.segments.iter().map(|s| compile(&s.rule)).collect();
        let mut touchpoint_by_code = Vec::new();
        let mut stages_met_by_code = Vec::new();
        let mut stages_open_by_code = Vec::new();
        for info in &model.catalog {
            let mut fixed = Some(None);
            for (index, tp) in touchpoints.iter().enumerate() {
                let Some(tp) = tp else { continue };
                match tp.on_code(info, None, &names) {
                    Some(true) => {
                        fixed = Some(Some(index as u16));
                        break;
                    }
                    Some(false) => {}
                    None => {
                        fixed = None;
                        break;
                    }
                }
            }
            touchpoint_by_code.push(fixed);
            let (mut met, mut open) = (0u64, 0u64);
            for (index, stage) in stages.iter().enumerate() {
                let Some(stage) = stage else { continue };
                match stage.on_code(info, fixed, &names) {
                    Some(true) => met |= 1 << index,
                    Some(false) => {}
                    None => open |= 1 << index,
                }
            }
            stages_met_by_code.push(met);
            stages_open_by_code.push(open);
        }
        let all: Vec<&Cond> = touchpoints
            .iter()
            .flatten()
            .chain(stages.iter().flatten())
            .chain(personas.iter().flatten())
            .chain(segments.iter())
            .collect();
        let columns = ScanColumns {
            properties: all.iter().any(|c| c.reads_properties),
            context: all.iter().any(|c| c.reads_context),
        };
        let mut trait_names: Vec<String> = all.iter().flat_map(|c| c.traits_read()).collect();
        trait_names.sort();
        trait_names.dedup();
        model.touchpoints = touchpoints;
        model.stages = stages;
        model.personas = personas;
        model.segments = segments;
        model.touchpoint_by_code = touchpoint_by_code;
        model.stages_met_by_code = stages_met_by_code;
        model.stages_open_by_code = stages_open_by_code;
        model.columns = columns;
        model.trait_names = trait_names;
        Ok(model)
    }

    fn names(&self) -> Names<'_> {
        Names {
            stages: &self.stage_ids,
            personas: &self.persona_ids,
            touchpoints: &self.touchpoint_ids,
            touchpoint_channels: &self.channels,
        }
    }
}

/// One customer's place in the journey.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerPlace {
    /// Customer id in the store.
    pub customer: u64,
    /// Furthest stage met in any order.
    pub stage: Option<String>,
    /// Stages completed in order within the window.
    pub level: u16,
    /// Persona, the first whose rule the customer meets.
    pub persona: Option<String>,
    /// Segments the customer belongs to.
    pub segments: Vec<String>,
    /// When each stage was first met (milliseconds), in journey order.
    pub first_met: Vec<Option<Millis>>,
    /// Events in the period.
    pub events: u32,
}

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
}

/// A touchpoint and how many customers.
#[derive(Clone, Debug, Serialize)]
pub struct TouchpointCount {
    /// Touchpoint id.
    pub touchpoint: String,
    /// Customers.
    pub customers: u64,
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

/// The journey results.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Schema version.
    pub schema: u32,
    /// Journey id.
    pub journey: String,
    /// Analysed period, as asked.
    pub period: Period,
    /// Customers with at least one event in the period.
    pub customers: u64,
    /// Events in the period.
    pub events: u64,
    /// Stages, in journey order.
    pub stages: Vec<StageResult>,
    /// Segments with their sizes.
    pub segments: Vec<SegmentResult>,
}

/// Bounds of the analysed period, milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Period {
    /// First event time considered.
    pub from: Option<Millis>,
    /// End (exclusive).
    pub to: Option<Millis>,
}

/// Places every customer, handing each to `each`; returns the journey results.
pub fn analyze(
    model: &Model<'_>,
    root: &Path,
    options: &Options,
    mut each: impl FnMut(&CustomerPlace),
) -> Result<Report, EngineError> {
    let journey = model.journey;
    let stages = journey.stages.len();
    let names = model.names();
    let traits = traits_named(root, &model.trait_names)?;
    let now = match options.to {
        Some(to) => to - 1,
        None => parcours_store::stats(root)?.last_event.unwrap_or(0),
    };
    let window = journey.window.map(|w| w.as_secs() as i64 * 1000);
    let mut reached = vec![0u64; stages];
    let mut current = vec![0u64; stages];
    let mut step_times: Vec<Vec<Millis>> = vec![Vec::new(); stages];
    let mut exits: Vec<HashMap<u16, u64>> = vec![HashMap::new(); stages];
    let mut segment_sizes = vec![0u64; model.segments.len()];
    let mut customers = 0u64;
    let mut event_count = 0u64;
    let mut hits: Vec<Hit> = Vec::new();
    let mut history = History::default();
    scan_customers(root, model.columns, |events: &CustomerEvents| {
        let (start, end) = period_range(events, options);
        if start == end {
            return Ok(());
        }
        customers += 1;
        event_count += (end - start) as u64;
        // Views of the period's events, touchpoints decided.
        let mut views: Vec<EventView<'_>> = Vec::with_capacity(end - start);

        for i in start..end {
            let code = model.code_index.get(&events.code[i]).copied().unwrap_or(0);
            views.push(EventView {
                at: events.at[i],
                code,
                properties: text_at(&events.properties, i),
                context: text_at(&events.context, i),
                touchpoint: None,
            });
        }
        let state = CustomerState {
            traits: traits.get(&events.customer),
            stage: None,
            persona: None,
        };
        history.reset();
        for i in 0..views.len() {
            let code = views[i].code as usize;
            let touchpoint = match model.touchpoint_by_code.get(code).copied().flatten() {
                Some(fixed) => fixed,
                None => {
                    let scope = Scope {
                        catalog: &model.catalog,
                        events: &views,
                        customer: state,
                        now,
                        names: &names,
                    };
                    let mut found = None;
                    for (index, tp) in model.touchpoints.iter().enumerate() {
                        if tp
                            .as_ref()
                            .is_some_and(|tp| tp.on_event(&scope, &mut history, i))
                        {
                            found = Some(index as u16);
                            break;
                        }
                    }
                    found
                }
            };
            views[i].touchpoint = touchpoint;
        }
        history.reset();
        hits.clear();
        let scope = Scope {
            catalog: &model.catalog,
            events: &views,
            customer: state,
            now,
            names: &names,
        };
        for (i, view) in views.iter().enumerate() {
            let code = view.code as usize;
            let mut met = model.stages_met_by_code.get(code).copied().unwrap_or(0);
            let mut open = model.stages_open_by_code.get(code).copied().unwrap_or(0);
            while open != 0 {
                let stage = open.trailing_zeros() as usize;
                open &= open - 1;
                if model.stages[stage]
                    .as_ref()
                    .is_some_and(|c| c.on_event(&scope, &mut history, i))
                {
                    met |= 1 << stage;
                }
            }
            while met != 0 {
                let stage = met.trailing_zeros();
                met &= met - 1;
                hits.push(Hit {
                    at: view.at,
                    stage: stage as u16,
                });
            }
        }
        let placement: Placement = place(&mut hits, stages, window);
        for s in 0..placement.level as usize {
            reached[s] += 1;
            if let Some(t) = placement.step_time[s] {
                step_times[s].push(t);
            }
        }
        if let Some(f) = placement.furthest {
            current[f as usize] += 1;
        }
        let level = placement.level as usize;
        if level > 0 && level < stages {
            // Left after stage `level`: the last touchpoint they used.
            if let Some(tp) = views.iter().rev().find_map(|v| v.touchpoint) {
                *exits[level - 1].entry(tp).or_default() += 1;
            }
        }
        // Persona, then segments (which may read stage and persona).
        let mut state = CustomerState {
            stage: placement.furthest,
            ..state
        };
        let scope = Scope {
            catalog: &model.catalog,
            events: &views,
            customer: state,
            now,
            names: &names,
        };
        let persona = model.personas.iter().position(|p| {
            p.as_ref()
                .is_some_and(|p| p.on_customer(&scope, &mut history))
        });
        state.persona = persona.map(|p| p as u16);
        let scope = Scope {
            catalog: &model.catalog,
            events: &views,
            customer: state,
            now,
            names: &names,
        };
        let mut member = Vec::new();
        for (index, segment) in model.segments.iter().enumerate() {
            if segment.on_customer(&scope, &mut history) {
                segment_sizes[index] += 1;
                member.push(journey.segments[index].id.clone());
            }
        }
        each(&CustomerPlace {
            customer: events.customer,
            stage: placement
                .furthest
                .map(|f| model.stage_ids[f as usize].clone()),
            level: placement.level,
            persona: persona.map(|p| model.persona_ids[p].clone()),
            segments: member,
            first_met: placement.first_met.clone(),
            events: views.len() as u32,
        });
        Ok(())
    })?;
    let stage_results = journey
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let previous = if i == 0 { customers } else { reached[i - 1] };
            let next = reached.get(i + 1).copied().unwrap_or(reached[i]);
            let times = &mut step_times[i];
            times.sort_unstable();
            let mut exit: Vec<TouchpointCount> = exits[i]
                .iter()
                .map(|(&tp, &n)| TouchpointCount {
                    touchpoint: model.touchpoint_ids[tp as usize].clone(),
                    customers: n,
                })
                .collect();
            exit.sort_by(|a, b| {
                b.customers
                    .cmp(&a.customers)
                    .then(a.touchpoint.cmp(&b.touchpoint))
            });
            exit.truncate(3);
            StageResult {
                id: stage.id.clone(),
                name: stage.name.clone(),
                reached: reached[i],
                current: current[i],
                conversion: ratio(reached[i], previous),
                conversion_from_first: ratio(reached[i], reached[0]),
                drop_off: reached[i] - next,
                median_time_s: quantile(times, 0.5),
                p90_time_s: quantile(times, 0.9),
                exit_touchpoints: exit,
            }
        })
        .collect();
    let segments = journey
        .segments
        .iter()
        .zip(&segment_sizes)
        .map(|(s, &n)| SegmentResult {
            id: s.id.clone(),
            name: s.name.clone(),
            customers: n,
        })
        .collect();
    Ok(Report {
        schema: REPORT_SCHEMA,
        journey: journey.id.clone(),
        period: Period {
            from: options.from,
            to: options.to,
        },
        customers,
        events: event_count,
        stages: stage_results,
        segments,
    })
}

/// The events of the period: `at` is sorted, so a range.
fn period_range(events: &CustomerEvents, options: &Options) -> (usize, usize) {
    let start = options
        .from
        .map_or(0, |from| events.at.partition_point(|&t| t < from));
    let end = options
        .to
        .map_or(events.len(), |to| events.at.partition_point(|&t| t < to));
    (start, end.max(start))
}

fn text_at(column: &[Option<String>], i: usize) -> Option<&str> {
    column.get(i).and_then(|t| t.as_deref())
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Nearest-rank quantile of sorted milliseconds, in seconds.
fn quantile(sorted: &[Millis], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1] as f64 / 1000.0)
}
