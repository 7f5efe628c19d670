//! Journey results: every customer placed, then counted stage by stage, week by week, by
//! group, with KPIs, paths and opportunities.

use std::collections::HashMap;
use std::path::Path;

use parcours_journey::Journey;
use parcours_store::StoreError;
use parcours_store::scan::{
    CustomerEvents, ScanColumns, event_codes, scan_customers, traits_named,
};
use regex::Regex;
use serde::Serialize;

use crate::breakdown::{self, Breakdown, MAX_GROUPS, NONE, OTHER};
use crate::calendar::Calendar;
use crate::cond::{CodeInfo, Cond, CustomerState, EventView, History, Names, Scope};
use crate::funnel::{Hit, Millis, Placement, place};
use crate::kpi::{self, CompiledKpi, CustomerKpiInput, Delta, EventConds};
use crate::opportunity;
use crate::paths::{PathCounts, TouchpointCount, collapse};
use crate::report::{
    BreakdownResult, Group, Period, PersonaResult, REPORT_SCHEMA, Report, SegmentResult,
    StageResult, Week, WeekStage,
};
use crate::stats::quantile;
use crate::tally::{Cohorts, Facts, Tally};

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
    /// Split the results by this attribute.
    pub by: Option<Breakdown>,
}

/// Event names that signal trouble, for error spikes (`docs/opportunities.md`).
pub const TROUBLE_PATTERN: &str =
    r"(?i)error|fail|exception|timeout|declin|bounce|blocked|complain|unsub|spam|cancel|refund";

/// The journey compiled against the store's event catalogue.
pub struct Model<'j> {
    pub(crate) journey: &'j Journey,
    pub(crate) stage_ids: Vec<String>,
    persona_ids: Vec<String>,
    pub(crate) touchpoint_ids: Vec<String>,
    channels: Vec<&'static str>,
    pub(crate) catalog: Vec<CodeInfo>,
    /// Store code → catalogue index.
    code_index: HashMap<i32, u32>,
    touchpoints: Vec<Option<Cond>>,
    stages: Vec<Option<Cond>>,
    personas: Vec<Option<Cond>>,
    segments: Vec<Cond>,
    pub(crate) kpis: Vec<CompiledKpi>,
    pub(crate) kpi_events: EventConds,
    /// Per catalogue entry: the touchpoint fixed by the code (`Some(None)`: none), or `None`
    /// when it depends on more than the code.
    touchpoint_by_code: Vec<Option<Option<u16>>>,
    /// Per catalogue entry: stages whose condition the code alone meets.
    stages_met_by_code: Vec<u64>,
    /// Per catalogue entry: stages whose condition needs the event itself.
    stages_open_by_code: Vec<u64>,
    /// Per catalogue entry: an error-like event.
    trouble_by_code: Vec<bool>,
    /// Per touchpoint: the first stage listing it.
    pub(crate) touchpoint_stage: Vec<Option<u16>>,
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
        let names = Names {
            stages: &stage_ids,
            personas: &persona_ids,
            touchpoints: &touchpoint_ids,
            touchpoint_channels: &channels,
        };
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
        let mut kpi_events = EventConds::default();
        let kpis = kpi::compile(
            &journey.kpis,
            |id| stage_ids.iter().position(|s| s == id).unwrap_or(0),
            &names,
            &mut kpi_events,
        );
        let mut touchpoint_by_code = Vec::new();
        let mut stages_met_by_code = Vec::new();
        let mut stages_open_by_code = Vec::new();
        for info in &catalog {
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
        kpi_events.decide(&catalog, &touchpoint_by_code, &names);
        let trouble = Regex::new(TROUBLE_PATTERN).expect("the pattern is valid");
        let trouble_by_code = catalog.iter().map(|c| trouble.is_match(&c.name)).collect();
        let touchpoint_stage = touchpoint_ids
            .iter()
            .map(|tp| {
                journey
                    .stages
                    .iter()
                    .position(|s| s.touchpoints.contains(tp))
                    .map(|s| s as u16)
            })
            .collect();
        let customer_kpi_conds = kpis.iter().flat_map(|k| match &k.plan {
            kpi::Plan::CustomerRatio {
                numerator,
                denominator,
            } => vec![numerator, denominator],
            _ => Vec::new(),
        });
        let all: Vec<&Cond> = touchpoints
            .iter()
            .flatten()
            .chain(stages.iter().flatten())
            .chain(personas.iter().flatten())
            .chain(segments.iter())
            .chain(kpi_events.conds.iter())
            .chain(customer_kpi_conds)
            .collect();
        let needs_properties = journey.kpis.iter().any(|k| {
            matches!(
                k.measure,
                parcours_journey::Measure::Mean { .. } | parcours_journey::Measure::Nps { .. }
            )
        });
        let columns = ScanColumns {
            properties: needs_properties || all.iter().any(|c| c.reads_properties),
            context: all.iter().any(|c| c.reads_context),
        };
        let mut trait_names: Vec<String> = all.iter().flat_map(|c| c.traits_read()).collect();
        trait_names.sort();
        trait_names.dedup();
        Ok(Model {
            journey,
            stage_ids,
            persona_ids,
            touchpoint_ids,
            channels,
            catalog,
            code_index,
            touchpoints,
            stages,
            personas,
            segments,
            kpis,
            kpi_events,
            touchpoint_by_code,
            stages_met_by_code,
            stages_open_by_code,
            trouble_by_code,
            touchpoint_stage,
            columns,
            trait_names,
        })
    }

    /// What conditions read for one customer.
    fn scope<'a>(
        &'a self,
        events: &'a [EventView<'a>],
        customer: CustomerState<'a>,
        now: Millis,
        names: &'a Names<'a>,
    ) -> Scope<'a> {
        Scope {
            catalog: &self.catalog,
            events,
            customer,
            now,
            names,
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            stages: &self.stage_ids,
            personas: &self.persona_ids,
            touchpoints: &self.touchpoint_ids,
            touchpoint_channels: &self.channels,
        }
    }

    /// The attributes scanned for breakdown gaps: persona, acquisition channel and the
    /// traits the journey's conditions read.
    fn gap_dimensions(&self) -> Vec<Breakdown> {
        let mut dims = Vec::new();
        if !self.journey.personas.is_empty() {
            dims.push(Breakdown::Persona);
        }
        dims.push(Breakdown::Channel);
        dims.extend(self.trait_names.iter().cloned().map(Breakdown::Trait));
        dims
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

/// Groups of one attribute, capped at [`MAX_GROUPS`] values.
#[derive(Debug)]
pub(crate) struct Groups<T> {
    pub by: Breakdown,
    pub groups: HashMap<String, T>,
}

impl<T> Groups<T> {
    fn slot(&mut self, value: String, make: impl FnOnce() -> T) -> &mut T {
        let key = if self.groups.contains_key(&value) || self.groups.len() < MAX_GROUPS {
            value
        } else {
            OTHER.to_string()
        };
        self.groups.entry(key).or_insert_with(make)
    }
}

/// Error-like events of one name, week by week.
#[derive(Clone, Debug)]
pub(crate) struct TroubleCounts {
    /// Customers with at least one such event, per week.
    pub customers: Vec<u64>,
    /// Per stage (by touchpoint, else the customer's furthest stage then): events.
    pub stages: Vec<u64>,
    /// Per touchpoint: events.
    pub touchpoints: HashMap<u16, u64>,
    /// `field=value` of the events' properties, per week.
    pub values: HashMap<String, Vec<u64>>,
}

/// Everything counted in the pass over customers.
pub(crate) struct Gathered {
    pub calendar: Calendar,
    pub now: Millis,
    pub overall: Tally,
    pub cohorts: Cohorts,
    pub by: Option<Groups<Tally>>,
    pub gaps: Vec<Groups<Cohorts>>,
    pub paths: PathCounts,
    pub trouble: HashMap<u32, TroubleCounts>,
    pub active: Vec<u64>,
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
    let traits = traits_named(root, &model.gap_trait_names(options))?;
    let stats = parcours_store::stats(root)?;
    let now = match options.to {
        Some(to) => to - 1,
        None => stats.last_event.unwrap_or(0),
    };
    let first = options.from.or(stats.first_event).unwrap_or(now).min(now);
    let calendar = Calendar::new(first, now + 1, &journey.timezone);
    let weeks = calendar.len();
    let week_of = |at: Millis| calendar.week(at);
    let week16 = |at: Millis| calendar.week(at) as u16;
    let window = journey.window.map(|w| w.as_secs() as i64 * 1000);
    let mut gathered = Gathered {
        overall: Tally::new(stages, model.kpis.len(), weeks),
        cohorts: Cohorts::new(stages, weeks),
        by: options.by.clone().map(|by| Groups {
            by,
            groups: HashMap::new(),
        }),
        gaps: model
            .gap_dimensions()
            .into_iter()
            .map(|by| Groups {
                by,
                groups: HashMap::new(),
            })
            .collect(),
        paths: PathCounts::default(),
        trouble: HashMap::new(),
        active: vec![0; weeks],
        now,
        calendar: calendar.clone(),
    };
    let mut persona_sizes = vec![0u64; model.personas.len()];
    let mut segment_sizes = vec![0u64; model.segments.len()];
    let mut event_count = 0u64;
    let mut hits: Vec<Hit> = Vec::new();
    let mut history = History::default();
    let mut matched: Vec<Vec<u32>> = vec![Vec::new(); model.kpi_events.conds.len()];
    let mut deltas: Vec<Vec<Delta>> = vec![Vec::new(); model.kpis.len()];
    let mut path: Vec<u16> = Vec::new();
    let mut in_stage: Vec<Vec<u16>> = vec![Vec::new(); stages];
    scan_customers(root, model.columns, |events: &CustomerEvents| {
        let (start, end) = period_range(events, options);
        if start == end {
            return Ok(());
        }
        event_count += (end - start) as u64;
        let mut views: Vec<EventView<'_>> = Vec::with_capacity(end - start);
        for i in start..end {
            let code = model.code_index.get(&events.code[i]).copied().unwrap_or(0);
            views.push(EventView {
                at: events.at[i],
                code,
                properties: events.properties.get(i),
                context: events.context.get(i),
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
                    let scope = model.scope(&views, state, now, &names);
                    model
                        .touchpoints
                        .iter()
                        .position(|tp| {
                            tp.as_ref()
                                .is_some_and(|tp| tp.on_event(&scope, &mut history, i))
                        })
                        .map(|t| t as u16)
                }
            };
            views[i].touchpoint = touchpoint;
        }
        history.reset();
        hits.clear();
        let scope = model.scope(&views, state, now, &names);
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
        // Persona, then segments (which may read stage and persona).
        let mut state = CustomerState {
            stage: placement.furthest,
            ..state
        };
        let scope = model.scope(&views, state, now, &names);
        let persona = model.personas.iter().position(|p| {
            p.as_ref()
                .is_some_and(|p| p.on_customer(&scope, &mut history))
        });
        if let Some(p) = persona {
            persona_sizes[p] += 1;
        }
        state.persona = persona.map(|p| p as u16);
        let scope = model.scope(&views, state, now, &names);
        let mut member = Vec::new();
        for (index, segment) in model.segments.iter().enumerate() {
            if segment.on_customer(&scope, &mut history) {
                segment_sizes[index] += 1;
                member.push(index);
            }
        }
        // KPIs.
        kpi::match_events(&model.kpi_events, &scope, &mut history, &mut matched);
        let input = CustomerKpiInput {
            scope: &scope,
            matched: &matched,
            first_met: &placement.first_met,
            week_of: &week16,
        };
        for (kpi, out) in model.kpis.iter().zip(deltas.iter_mut()) {
            out.clear();
            kpi::contribute(kpi, &input, &mut history, out);
        }
        // Paths and touchpoints around leaving.
        collapse(views.iter().map(|v| v.touchpoint), &mut path);
        gathered.paths.add(&path, placement.level, stages);
        // Touchpoints of later stages (a newsletter still arriving) say nothing about why a
        // customer stopped earlier.
        let relevant = |tp: u16, s: usize| {
            model.touchpoint_stage[tp as usize].is_none_or(|ts| ts as usize <= s + 1)
        };
        let level = placement.level as usize;
        let last_touchpoint = level.checked_sub(1).and_then(|s| {
            views
                .iter()
                .rev()
                .find_map(|v| v.touchpoint.filter(|&tp| relevant(tp, s)))
        });
        for (s, used) in in_stage.iter_mut().enumerate() {
            used.clear();
            let Some(from) = placement.reached_at[s].filter(|_| s < level) else {
                continue;
            };
            let to = placement
                .reached_at
                .get(s + 1)
                .copied()
                .flatten()
                .unwrap_or(Millis::MAX);
            let first = views.partition_point(|v| v.at < from);
            for view in views[first..].iter().take_while(|v| v.at < to) {
                if let Some(tp) = view.touchpoint.filter(|&tp| relevant(tp, s))
                    && !used.contains(&tp)
                {
                    used.push(tp);
                }
            }
        }
        let facts = Facts {
            placement: &placement,
            first_event: views[0].at,
            kpis: &deltas,
            last_touchpoint,
            touchpoints_in_stage: &in_stage,
        };
        gathered.overall.add(&facts);
        gathered.cohorts.add(&facts, &week_of);
        let mut last_week = usize::MAX;
        for view in &views {
            let w = week_of(view.at);
            if w != last_week {
                gathered.active[w] += 1;
                last_week = w;
            }
        }
        count_trouble(
            model,
            &views,
            &placement,
            &week_of,
            weeks,
            &mut gathered.trouble,
        );
        let first_channel = path
            .first()
            .map(|&tp| model.channels[tp as usize].to_string());
        let value_of = |by: &Breakdown| -> Vec<String> {
            match by {
                Breakdown::Persona => {
                    vec![persona.map_or(NONE.to_string(), |p| model.persona_ids[p].clone())]
                }
                Breakdown::Segment => {
                    if member.is_empty() {
                        vec![NONE.to_string()]
                    } else {
                        member
                            .iter()
                            .map(|&s| journey.segments[s].id.clone())
                            .collect()
                    }
                }
                Breakdown::Channel => vec![first_channel.clone().unwrap_or(NONE.to_string())],
                Breakdown::Prop(name) => {
                    vec![breakdown::first_field(&views, false, name).unwrap_or(NONE.to_string())]
                }
                Breakdown::Context(name) => {
                    vec![breakdown::first_field(&views, true, name).unwrap_or(NONE.to_string())]
                }
                Breakdown::Trait(name) => vec![
                    state
                        .traits
                        .and_then(|t| t.get(name.as_str()))
                        .and_then(breakdown::label)
                        .unwrap_or(NONE.to_string()),
                ],
            }
        };
        if let Some(by) = gathered.by.as_mut() {
            for value in value_of(&by.by) {
                by.slot(value, || Tally::new(stages, model.kpis.len(), 1))
                    .add(&facts);
            }
        }
        for dim in gathered.gaps.iter_mut() {
            for value in value_of(&dim.by) {
                dim.slot(value, || Cohorts::new(stages, weeks))
                    .add(&facts, &week_of);
            }
        }
        each(&CustomerPlace {
            customer: events.customer,
            stage: placement
                .furthest
                .map(|f| model.stage_ids[f as usize].clone()),
            level: placement.level,
            persona: persona.map(|p| model.persona_ids[p].clone()),
            segments: member
                .iter()
                .map(|&s| journey.segments[s].id.clone())
                .collect(),
            first_met: placement.first_met.clone(),
            events: views.len() as u32,
        });
        Ok(())
    })?;
    let overall_stages = stage_results(model, &gathered.overall, true);
    let breakdown = gathered.by.as_ref().map(|by| {
        let mut groups: Vec<Group> = by
            .groups
            .iter()
            .map(|(value, tally)| Group {
                value: value.clone(),
                customers: tally.customers,
                stages: stage_results(model, tally, false),
            })
            .collect();
        groups.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.value.cmp(&b.value)));
        BreakdownResult {
            by: by.by.to_string(),
            groups,
        }
    });
    let weeks = week_results(model, &gathered);
    let opportunities = opportunity::find(model, &gathered, &overall_stages);
    let customers = gathered.overall.customers;
    let min_flow = (customers / 200).max(1);
    Ok(Report {
        schema: REPORT_SCHEMA,
        journey: journey.id.clone(),
        name: journey.name.clone(),
        period: Period {
            from: (!calendar.is_empty()).then(|| calendar.date(first)),
            to: (!calendar.is_empty()).then(|| calendar.date(now)),
        },
        customers,
        events: event_count,
        stages: overall_stages,
        personas: journey
            .personas
            .iter()
            .zip(&persona_sizes)
            .map(|(p, &n)| PersonaResult {
                id: p.id.clone(),
                name: p.name.clone(),
                customers: n,
            })
            .collect(),
        segments: journey
            .segments
            .iter()
            .zip(&segment_sizes)
            .map(|(s, &n)| SegmentResult {
                id: s.id.clone(),
                name: s.name.clone(),
                customers: n,
            })
            .collect(),
        breakdown,
        paths: gathered.paths.to_paths(&model.touchpoint_ids, min_flow),
        weeks,
        opportunities,
    })
}

impl Model<'_> {
    /// Traits to load: those conditions read, and the one `--by` asks for.
    fn gap_trait_names(&self, options: &Options) -> Vec<String> {
        let mut names = self.trait_names.clone();
        if let Some(Breakdown::Trait(name)) = &options.by
            && !names.contains(name)
        {
            names.push(name.clone());
        }
        names
    }
}

fn count_trouble(
    model: &Model<'_>,
    views: &[EventView<'_>],
    placement: &Placement,
    week_of: &dyn Fn(Millis) -> usize,
    weeks: usize,
    trouble: &mut HashMap<u32, TroubleCounts>,
) {
    let mut seen: Vec<(u32, usize)> = Vec::new();
    for view in views {
        if !model
            .trouble_by_code
            .get(view.code as usize)
            .copied()
            .unwrap_or(false)
        {
            continue;
        }
        let w = week_of(view.at);
        let counts = trouble.entry(view.code).or_insert_with(|| TroubleCounts {
            customers: vec![0; weeks],
            stages: vec![0; model.stage_ids.len()],
            touchpoints: HashMap::new(),
            values: HashMap::new(),
        });
        if !seen.contains(&(view.code, w)) {
            seen.push((view.code, w));
            counts.customers[w] += 1;
        }
        let stage = view
            .touchpoint
            .and_then(|tp| model.touchpoint_stage[tp as usize])
            .map(usize::from)
            .or_else(|| {
                placement
                    .first_met
                    .iter()
                    .rposition(|m| m.is_some_and(|m| m <= view.at))
            });
        if let Some(s) = stage {
            counts.stages[s] += 1;
        }
        if let Some(tp) = view.touchpoint {
            *counts.touchpoints.entry(tp).or_default() += 1;
        }
        for field in opportunity::fields(view.properties) {
            counts.values.entry(field).or_insert_with(|| vec![0; weeks])[w] += 1;
        }
    }
}

/// Stage results from a tally; `weekly` when the tally's KPI cells are weeks.
fn stage_results(model: &Model<'_>, tally: &Tally, weekly: bool) -> Vec<StageResult> {
    let journey = model.journey;
    journey
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let previous = if i == 0 {
                tally.customers
            } else {
                tally.reached[i - 1]
            };
            let next = tally
                .reached
                .get(i + 1)
                .copied()
                .unwrap_or(tally.reached[i]);
            let mut times = tally.step_times[i].clone();
            times.sort_unstable();
            let mut exit: Vec<TouchpointCount> = tally.exits[i]
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
            let kpis = journey
                .kpis
                .iter()
                .enumerate()
                .filter(|(k, _)| model.kpis[*k].stage == i)
                .map(|(k, kpi)| {
                    let plan = &model.kpis[k].plan;
                    if matches!(plan, kpi::Plan::StageConversion) {
                        // The stage's conversion, weekly from the tally's reached counts.
                        let total = kpi::Cell {
                            num: tally.reached[i] as f64,
                            den: previous as f64,
                            ..kpi::Cell::default()
                        };
                        kpi::result(kpi, plan, &total, &[])
                    } else {
                        let weeks = if weekly { &tally.kpis[k][..] } else { &[] };
                        kpi::result(kpi, plan, &tally.kpi_total(k), weeks)
                    }
                })
                .collect();
            StageResult {
                id: stage.id.clone(),
                name: stage.name.clone(),
                reached: tally.reached[i],
                current: tally.current[i],
                conversion: ratio(tally.reached[i], previous),
                conversion_from_first: ratio(tally.reached[i], tally.reached[0]),
                drop_off: tally.reached[i] - next,
                median_time_s: quantile(&times, 0.5).map(|t| t as f64 / 1000.0),
                p90_time_s: quantile(&times, 0.9).map(|t| t as f64 / 1000.0),
                exit_touchpoints: exit,
                kpis,
            }
        })
        .collect()
}

/// Per week and stage: reached and cohort conversion.
fn week_results(model: &Model<'_>, gathered: &Gathered) -> Vec<Week> {
    let calendar = &gathered.calendar;
    let cohorts = &gathered.cohorts;
    let p90: Vec<Millis> = gathered
        .overall
        .step_times
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.sort_unstable();
            quantile(&t, 0.9).unwrap_or(0)
        })
        .collect();
    (0..calendar.len())
        .map(|w| Week {
            week: calendar.monday(w),
            active_customers: gathered.active[w],
            stages: model
                .stage_ids
                .iter()
                .enumerate()
                .map(|(s, id)| {
                    let entered = cohorts.entered(s, w);
                    let converted = cohorts.converted(s, w, Cohorts::ANY_DELAY);
                    WeekStage {
                        id: id.clone(),
                        reached: cohorts.reached(s, w),
                        entered_previous: entered,
                        conversion: ratio(converted, entered),
                        complete: calendar.end(w).saturating_add(p90[s]) <= gathered.now,
                    }
                })
                .collect(),
        })
        .collect()
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

pub(crate) fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}
