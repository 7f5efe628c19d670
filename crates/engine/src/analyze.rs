//! Journey results: every customer placed, then counted stage by stage, week by week, by
//! group, with KPIs, paths and opportunities.

use std::path::Path;

use parcours_journey::Journey;
use parcours_store::StoreError;
use parcours_store::scan::{
    CustomerView, HeldTraitRows, Part, Partial, Scan, ScanBuffers, ScanColumns, TraitScope,
    event_codes, held_traits, traits_named,
};
use regex::Regex;
use serde::Serialize;

use crate::breakdown::Breakdown;
use crate::calendar::Calendar;
use crate::cond::{CodeInfo, Cond, CustomerState, EventTexts, EventView, Names, Scope};
use crate::funnel::Millis;
use crate::kpi::{self, CompiledKpi, EventConds};
use crate::opportunity;
use crate::pass::{Context, Gathered, Pass};
use crate::paths::TouchpointCount;
use crate::report::{
    BreakdownResult, Group, Period, PersonaResult, REPORT_SCHEMA, Report, SegmentResult,
    StageResult, Week, WeekStage,
};
use crate::tally::{Cohorts, Tally};

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A weekly cohort counted more customers than an analysis holds in a count.
    #[error(
        "more than 4,294,967,295 customers moved on in one week of one stage of the journey, \
         more than a weekly cohort counts: please report it with the store's size"
    )]
    CohortOverflow,
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
    /// Threads to analyse with (default: one per core).
    pub threads: Option<usize>,
}

/// Event names that signal trouble, for error spikes (`docs/opportunities.md`).
pub const TROUBLE_PATTERN: &str =
    r"(?i)error|fail|exception|timeout|declin|bounce|blocked|complain|unsub|spam|cancel|refund";

/// The journey compiled against the store's event catalogue.
pub struct Model<'j> {
    pub(crate) journey: &'j Journey,
    pub(crate) stage_ids: Vec<String>,
    pub(crate) persona_ids: Vec<String>,
    pub(crate) touchpoint_ids: Vec<String>,
    pub(crate) channels: Vec<&'static str>,
    pub(crate) catalog: Vec<CodeInfo>,
    /// Store code → catalogue index (codes are small and dense: a table).
    pub(crate) code_index: Vec<u32>,
    pub(crate) touchpoints: Vec<Option<Cond>>,
    pub(crate) stages: Vec<Option<Cond>>,
    pub(crate) personas: Vec<Option<Cond>>,
    pub(crate) segments: Vec<Cond>,
    pub(crate) kpis: Vec<CompiledKpi>,
    pub(crate) kpi_events: EventConds,
    /// Per catalogue entry: what its events do, as far as the code alone decides.
    pub(crate) code_plans: Vec<CodePlan>,
    /// KPI event conditions are all decided in the walk that finds the stages met (see
    /// [`EventConds::decided_before_placing`]).
    pub(crate) kpis_before_placing: bool,
    /// KPIs counting events (counts, event ratios) whose conditions the event code alone
    /// decides: counted from the events of each code per week rather than customer by
    /// customer, when no breakdown needs them per customer.
    pub(crate) counted_by_code: Vec<usize>,
    /// Per touchpoint: the first stage listing it.
    pub(crate) touchpoint_stage: Vec<Option<u16>>,
    /// Per stage: the touchpoints below 64 that say something about a customer's time in
    /// it, as bits (all but those of stages after the next; see
    /// [`StageTouchpoints::gather`](crate::tally::StageTouchpoints::gather)).
    pub(crate) relevant_low: Vec<u64>,
    /// Per catalogue entry: some history function finds its events by code alone, so the
    /// walk over the events lists them (see [`cond::History::list_among`]).
    pub(crate) listed_codes: Vec<bool>,
    pub(crate) columns: ScanColumns,
    pub(crate) trait_names: Vec<String>,
}

impl<'j> Model<'j> {
    /// Compiles the journey for the store at `root`.
    pub fn new(journey: &'j Journey, root: &Path) -> Result<Model<'j>, EngineError> {
        let mut catalog = Vec::new();
        let mut code_index = Vec::new();
        for (code, kind, name) in event_codes(root)? {
            let Ok(slot) = usize::try_from(code) else {
                continue;
            };
            if slot >= code_index.len() {
                code_index.resize(slot + 1, 0);
            }
            code_index[slot] = catalog.len() as u32;
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
        let mut touchpoints: Vec<Option<Cond>> = journey
            .touchpoints
            .iter()
            .map(|t| t.matches.as_ref().map(compile))
            .collect();
        let mut stages: Vec<Option<Cond>> = journey
            .stages
            .iter()
            .map(|s| s.enter.as_ref().map(compile))
            .collect();
        let mut personas: Vec<Option<Cond>> = journey
            .personas
            .iter()
            .map(|p| p.rule.as_ref().map(compile))
            .collect();
        let mut segments: Vec<Cond> = journey.segments.iter().map(|s| compile(&s.rule)).collect();
        let mut kpi_events = EventConds::default();
        let mut kpis = kpi::compile(
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
        for cond in touchpoints
            .iter_mut()
            .chain(stages.iter_mut())
            .flatten()
            .chain(kpi_events.conds.iter_mut())
        {
            cond.specialize(&catalog, &names);
        }
        let customer_ratios = kpis.iter_mut().flat_map(|k| match &mut k.plan {
            kpi::Plan::CustomerRatio {
                numerator,
                denominator,
            } => vec![&mut **numerator, &mut **denominator],
            _ => Vec::new(),
        });
        for cond in personas
            .iter_mut()
            .flatten()
            .chain(segments.iter_mut())
            .chain(customer_ratios)
        {
            cond.prepare_for_customers(&catalog, &names);
        }
        let trouble = Regex::new(TROUBLE_PATTERN).expect("the pattern is valid");
        let trouble_by_code: Vec<bool> =
            catalog.iter().map(|c| trouble.is_match(&c.name)).collect();
        let kpis_before_placing = kpi_events.decided_before_placing();
        let by_code_alone = |c: usize| kpi_events.by_code[c].iter().all(Option::is_some);
        let counted_by_code = kpis
            .iter()
            .enumerate()
            .filter(|(_, kpi)| {
                kpi.plan.counted_events().is_some_and(|(counted, of)| {
                    by_code_alone(counted) && of.is_none_or(by_code_alone)
                })
            })
            .map(|(index, _)| index)
            .collect();
        let code_plans = (0..catalog.len())
            .map(|code| {
                let (kpis_met, kpis_open) = kpi_events.bits_of(code).unwrap_or((0, u64::MAX));
                CodePlan {
                    touchpoint: touchpoint_by_code[code],
                    stages_met: stages_met_by_code[code],
                    stages_open: stages_open_by_code[code],
                    kpis_met,
                    kpis_open,
                    trouble: trouble_by_code[code],
                    listed: false,
                }
            })
            .collect::<Vec<CodePlan>>();
        let touchpoint_stage = touchpoint_ids
            .iter()
            .map(|tp| {
                journey
                    .stages
                    .iter()
                    .position(|s| s.touchpoints.contains(tp))
                    .map(|s| s as u16)
            })
            .collect::<Vec<_>>();
        let relevant_low = (0..journey.stages.len())
            .map(|s| {
                touchpoint_stage
                    .iter()
                    .take(64)
                    .enumerate()
                    .filter(|&(_, &of)| says_of_stage(of, s))
                    .fold(0u64, |bits, (tp, _)| bits | 1 << tp)
            })
            .collect();
        let customer_kpi_conds = kpis.iter().flat_map(|k| match &k.plan {
            kpi::Plan::CustomerRatio {
                numerator,
                denominator,
            } => vec![&**numerator, &**denominator],
            _ => Vec::new(),
        });
        let all: Vec<&Cond> = touchpoints
            .iter()
            .flatten()
            .chain(stages.iter().flatten())
            .chain(personas.iter().flatten())
            .chain(segments.iter())
            .chain(kpi_events.conds.iter())
            .chain(customer_kpi_conds.clone())
            .collect();
        // Texts are copied for the events whose code leaves a condition reading them
        // undecided, and for those whose answers (means, NPS) or fields (error spikes) are
        // read; most events need none.
        let customer_conds: Vec<&Cond> = personas
            .iter()
            .flatten()
            .chain(segments.iter())
            .chain(customer_kpi_conds.clone())
            .collect();
        let reads_texts = |code: usize| {
            let info = &catalog[code];
            trouble_by_code[code]
                || kpis.iter().any(|k| match k.plan {
                    kpi::Plan::Mean { events, .. } | kpi::Plan::Nps { events, .. } => {
                        kpi_events.by_code[events][code] != Some(false)
                    }
                    _ => false,
                })
                || touchpoints
                    .iter()
                    .flatten()
                    .chain(stages.iter().flatten())
                    .chain(kpi_events.conds.iter())
                    .any(|c| c.reads_texts_of(info, true, &names))
                || customer_conds
                    .iter()
                    .any(|c| c.reads_texts_of(info, false, &names))
        };
        let by_catalog: Vec<bool> = (0..catalog.len()).map(reads_texts).collect();
        let columns = ScanColumns {
            properties: all.iter().any(|c| c.reads_properties) || by_catalog.contains(&true),
            context: all.iter().any(|c| c.reads_context),
            text_codes: Some(
                code_index
                    .iter()
                    .map(|&entry| by_catalog[entry as usize])
                    .collect(),
            ),
        };
        let mut listed_codes = vec![false; catalog.len()];
        for cond in &all {
            cond.mark_listed_codes(&catalog, &names, &mut listed_codes);
        }
        let code_plans: Vec<CodePlan> = code_plans
            .into_iter()
            .zip(&listed_codes)
            .map(|(plan, &listed)| CodePlan { listed, ..plan })
            .collect();
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
            code_plans,
            kpis_before_placing,
            counted_by_code,
            touchpoint_stage,
            relevant_low,
            listed_codes,
            columns,
            trait_names,
        })
    }

    /// What conditions read for one customer.
    pub(crate) fn scope<'a>(
        &'a self,
        events: &'a [EventView],
        texts: EventTexts<'a>,
        customer: CustomerState<'a>,
        now: Millis,
        names: &'a Names<'a>,
    ) -> Scope<'a> {
        Scope {
            catalog: &self.catalog,
            events,
            texts,
            customer,
            now,
            names,
        }
    }

    /// What the scan of an analysis decodes: what the model reads, and the breakdown's
    /// property or context of every event.
    fn scan_columns(&self, options: &Options) -> ScanColumns {
        let mut columns = self.columns.clone();
        match options.by {
            Some(Breakdown::Prop(_)) => columns.properties = true,
            Some(Breakdown::Context(_)) => columns.context = true,
            _ => return columns,
        }
        columns.text_codes = None;
        columns
    }

    pub(crate) fn names(&self) -> Names<'_> {
        Names {
            stages: &self.stage_ids,
            personas: &self.persona_ids,
            touchpoints: &self.touchpoint_ids,
            touchpoint_channels: &self.channels,
        }
    }

    /// The attributes scanned for breakdown gaps: persona, acquisition channel and the
    /// traits the journey's conditions read.
    pub(crate) fn gap_dimensions(&self) -> Vec<Breakdown> {
        let mut dims = Vec::new();
        if !self.journey.personas.is_empty() {
            dims.push(Breakdown::Persona);
        }
        dims.push(Breakdown::Channel);
        dims.extend(self.trait_names.iter().cloned().map(Breakdown::Trait));
        dims
    }
}

/// Whether a touchpoint first listed by stage `of` says something about a customer's time
/// in stage `stage`: all but those of stages after the next (a newsletter still arriving
/// says nothing about why a customer stopped earlier).
pub(crate) fn says_of_stage(of: Option<u16>, stage: usize) -> bool {
    of.is_none_or(|of| of as usize <= stage + 1)
}

/// What the events of one code do, as far as the code alone decides: read once per event
/// in the pass, where four tables were read apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CodePlan {
    /// The touchpoint fixed by the code (`Some(None)`: none), or `None` when it depends on
    /// more than the code.
    pub touchpoint: Option<Option<u16>>,
    /// Stages whose condition the code alone meets, as bits.
    pub stages_met: u64,
    /// Stages whose condition needs the event itself, as bits.
    pub stages_open: u64,
    /// KPI event conditions the code alone meets, as bits.
    pub kpis_met: u64,
    /// KPI event conditions that need the event itself, as bits (all of them when the
    /// conditions are too many for bits).
    pub kpis_open: u64,
    /// An error-like event.
    pub trouble: bool,
    /// A history function finds the code's events by code ([`Model::listed_codes`]).
    pub listed: bool,
}

impl CodePlan {
    /// The plan of a code missing from the catalogue: nothing decided.
    pub const UNKNOWN: CodePlan = CodePlan {
        touchpoint: None,
        stages_met: 0,
        stages_open: 0,
        kpis_met: 0,
        kpis_open: 0,
        trouble: false,
        listed: false,
    };
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

/// Places every customer on all cores; returns the journey results.
pub fn analyze(model: &Model<'_>, root: &Path, options: &Options) -> Result<Report, EngineError> {
    run(model, root, options, None, None)
}

/// Places every customer on one thread, handing each to `each` in customer order (merged
/// customers last); returns the journey results.
pub fn analyze_each(
    model: &Model<'_>,
    root: &Path,
    options: &Options,
    mut each: impl FnMut(&CustomerPlace),
) -> Result<Report, EngineError> {
    run(model, root, options, Some(&mut each), None)
}

/// Places customer `customer` (as it is now) alone, as [`analyze_each`] would place it;
/// `None` when it has no event in the period.
pub fn place_customer(
    model: &Model<'_>,
    root: &Path,
    options: &Options,
    customer: u64,
) -> Result<Option<CustomerPlace>, EngineError> {
    let parts = parcours_store::scan::customer_parts(root, customer)?;
    let mut place = None;
    let mut keep = |p: &CustomerPlace| {
        if p.customer == customer {
            place = Some(p.clone());
        }
    };
    run(
        model,
        root,
        options,
        Some(&mut keep),
        Some((&parts, customer)),
    )?;
    Ok(place)
}

fn run(
    model: &Model<'_>,
    root: &Path,
    options: &Options,
    mut each: Option<&mut dyn FnMut(&CustomerPlace)>,
    only: Option<(&[Part], u64)>,
) -> Result<Report, EngineError> {
    let journey = model.journey;
    let trait_names = model.gap_trait_names(options);
    // Counting customers takes a second at a hundred million events: only the span is read.
    let (first_event, last_event) = parcours_store::event_span(root)?;
    let now = match options.to {
        Some(to) => to - 1,
        None => last_event.unwrap_or(0),
    };
    let first = options.from.or(first_event).unwrap_or(now).min(now);
    let calendar = Calendar::new(first, now + 1, &journey.timezone);
    let cx = Context {
        model,
        options,
        names: model.names(),
        calendar: calendar.clone(),
        now,
        window: journey.window.map(|w| w.as_secs() as i64 * 1000),
    };
    let scan = Scan::open(root, model.scan_columns(options))?;
    let threads = if each.is_some() {
        1
    } else {
        options.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    };
    let parts = scan.parts_by(&guided_shares(threads.max(1)));
    let mut gathered = if threads <= 1 || parts.len() == 1 {
        let only_customer = only.map(|(_, customer)| [customer]);
        let scope = match &only_customer {
            Some(customer) => TraitScope::Customers(customer),
            None => TraitScope::All,
        };
        let traits = traits_named(root, &trait_names, scope)?;
        let mut pass = Pass::new(&cx, &traits);
        let mut visit = |events: CustomerView<'_>| {
            pass.customer(
                events,
                each.as_mut()
                    .map(|f| &mut **f as &mut dyn FnMut(&CustomerPlace)),
            );
            Ok(())
        };
        let partials = match only {
            Some((parts, _)) => parts
                .iter()
                .map(|part| scan.run(part, &mut visit))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![scan.run(&Part::ALL, &mut visit)?],
        };
        // Merged customers, whose pieces may lie anywhere, last.
        scan.finish(partials, &mut visit)?;
        pass.finish()
    } else {
        scan.prepare_traits(&trait_names)?;
        in_parallel(&cx, &scan, &parts, threads, &trait_names)?
    };
    gathered.finish(model);
    if gathered.cohorts_overflowed() {
        return Err(EngineError::CohortOverflow);
    }
    Ok(report(model, &gathered, first))
}

/// The shares of the events in the parts of a scan on `threads` threads: each part half of
/// what is left divided among the threads, down to a floor, so that the threads, taking
/// parts in order as they finish, end within a small part of each other. Equal parts, one
/// per thread, left a core idle for a tenth of the run when one part went slower. The floor,
/// a 96th of the events on two threads, leaves the threads ending within 0.02 s of each
/// other at 100M events (a 32nd left up to 0.17 s); parts cost little to start now that
/// traits come from trait files.
fn guided_shares(threads: usize) -> Vec<f64> {
    let threads = threads as f64;
    let floor = 1.0 / (48.0 * threads);
    let mut shares = Vec::new();
    let mut left = 1.0;
    while left > 1e-9 {
        let share = (left / (2.0 * threads)).max(floor).min(left);
        shares.push(share);
        left -= share;
    }
    shares
}

/// The threads take the parts in order, each loading its part's traits and counting its
/// customers; then the held customers (merged ones and their survivors), whose traits the
/// parts met on the way, are shared among the threads again.
fn in_parallel(
    cx: &Context<'_>,
    scan: &Scan,
    parts: &[Part],
    threads: usize,
    trait_names: &[String],
) -> Result<Gathered, EngineError> {
    // Each part's counts are kept apart and added up in part order, whichever thread took
    // it: sums of decimals then come out the same at every run.
    type Counted = Vec<(usize, Gathered, Partial, HeldTraitRows)>;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let counted = std::thread::scope(|scope| {
        let running: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<Counted, StoreError> {
                    let mut counted = Vec::new();
                    let mut buffers = ScanBuffers::default();
                    let claim = || next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    loop {
                        let index = claim();
                        let Some(&part) = parts.get(index) else {
                            return Ok(counted);
                        };
                        let (traits, held) = scan.part_traits(trait_names, part)?;
                        let mut pass = Pass::new(cx, &traits);
                        let partial = scan.run_reusing(&part, &mut buffers, |events| {
                            pass.customer(events, None);
                            Ok(())
                        })?;
                        counted.push((index, pass.finish(), partial, held));
                    }
                })
            })
            .collect();
        running
            .into_iter()
            .map(|thread| thread.join().expect("an analysis thread panicked"))
            .collect::<Result<Vec<_>, StoreError>>()
    });
    let mut counted: Counted = counted?.into_iter().flatten().collect();
    counted.sort_by_key(|c| c.0);
    let mut gathered = Vec::new();
    let mut partials = Vec::new();
    let mut held_rows = Vec::new();
    for (_, g, p, h) in counted {
        gathered.push(g);
        partials.push(p);
        held_rows.push(h);
    }
    // The parts met every stored row of the held customers' traits.
    let held_traits = held_traits(trait_names, held_rows);
    let (_, mut held) = scan.held(partials);
    // Consecutive customers per thread, each thread putting its customers' events in order.
    let chunk = held.len().div_ceil(threads).max(1);
    let mut chunks = Vec::new();
    while !held.is_empty() {
        let rest = held.split_off(chunk.min(held.len()));
        chunks.push(std::mem::replace(&mut held, rest));
    }
    let held_counts = std::thread::scope(|threads| {
        let running: Vec<_> = chunks
            .into_iter()
            .map(|customers| {
                let traits = &held_traits;
                threads.spawn(move || {
                    let mut pass = Pass::new(cx, traits);
                    for customer in customers {
                        pass.customer(customer.finish().view(), None);
                    }
                    pass.finish()
                })
            })
            .collect();
        running
            .into_iter()
            .map(|thread| thread.join().expect("an analysis thread panicked"))
            .collect::<Vec<_>>()
    });
    let mut total = None;
    for other in gathered.into_iter().chain(held_counts) {
        merge_into(&mut total, other);
    }
    Ok(total.expect("at least one part"))
}

fn merge_into(total: &mut Option<Gathered>, other: Gathered) {
    match total {
        Some(total) => total.merge(other),
        None => *total = Some(other),
    }
}

/// The journey results from the counts of every customer.
fn report(model: &Model<'_>, gathered: &Gathered, first: Millis) -> Report {
    let journey = model.journey;
    let calendar = &gathered.calendar;
    let now = gathered.now;
    let overall_stages = stage_results(model, &gathered.overall, Some(gathered));
    let breakdown = gathered.by.as_ref().map(|by| {
        let mut groups: Vec<Group> = by
            .iter()
            .map(|(value, tally)| Group {
                value: value.clone(),
                customers: tally.customers,
                stages: stage_results(model, tally, None),
            })
            .collect();
        groups.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.value.cmp(&b.value)));
        BreakdownResult {
            by: by.by.to_string(),
            groups,
        }
    });
    let weeks = week_results(model, gathered);
    let opportunities = opportunity::find(model, gathered, &overall_stages);
    let customers = gathered.overall.customers;
    let min_flow = (customers / 200).max(1);
    Report {
        schema: REPORT_SCHEMA,
        journey: journey.id.clone(),
        name: journey.name.clone(),
        period: Period {
            from: (!calendar.is_empty()).then(|| calendar.date(first)),
            to: (!calendar.is_empty()).then(|| calendar.date(now)),
        },
        customers,
        events: gathered.events,
        stages: overall_stages,
        personas: journey
            .personas
            .iter()
            .zip(&gathered.persona_sizes)
            .map(|(p, &n)| PersonaResult {
                id: p.id.clone(),
                name: p.name.clone(),
                customers: n,
            })
            .collect(),
        segments: journey
            .segments
            .iter()
            .zip(&gathered.segment_sizes)
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
    }
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

/// Stage results from a tally; with the pass's counts (`weekly`) when the tally is the
/// overall one, whose KPI cells are weeks.
fn stage_results(model: &Model<'_>, tally: &Tally, weekly: Option<&Gathered>) -> Vec<StageResult> {
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
            let times = &tally.step_times[i];
            let mut exit: Vec<TouchpointCount> = tally.exits[i]
                .iter()
                .enumerate()
                .filter(|&(_, &n)| n > 0)
                .map(|(tp, &n)| TouchpointCount {
                    touchpoint: model.touchpoint_ids[tp].clone(),
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
                        // The stage's conversion over the period, and week by week from the
                        // cohorts that could convert by now.
                        let total = kpi::Cell {
                            num: tally.reached[i] as f64,
                            den: previous as f64,
                            ..kpi::Cell::default()
                        };
                        let weeks = weekly.map_or_else(Vec::new, |g| conversion_weeks(g, i));
                        kpi::result(kpi, plan, &total, &weeks)
                    } else {
                        let weeks = if weekly.is_some() {
                            &tally.kpis[k][..]
                        } else {
                            &[]
                        };
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
                median_time_s: times.quantile(0.5).map(|t| t as f64),
                p90_time_s: times.quantile(0.9).map(|t| t as f64),
                exit_touchpoints: exit,
                kpis,
            }
        })
        .collect()
}

/// Stage `s`'s conversion per weekly cohort (customers who reached the stage before in that
/// week, and of them those who reached `s`), for the weeks whose cohorts had time to
/// convert: the weeks that ended at least the stage's 90th-percentile step time ago.
fn conversion_weeks(gathered: &Gathered, s: usize) -> Vec<kpi::Cell> {
    let calendar = &gathered.calendar;
    let cohorts = &gathered.cohorts;
    let p90 = gathered.overall.step_times[s]
        .quantile(0.9)
        .map_or(0, |t| t * 1000);
    (0..calendar.len())
        .take_while(|&w| calendar.end(w).saturating_add(p90) <= gathered.now)
        .map(|w| kpi::Cell {
            num: cohorts.converted(s, w, Cohorts::ANY_DELAY) as f64,
            den: cohorts.entered(s, w) as f64,
            ..kpi::Cell::default()
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
        .map(|t| t.quantile(0.9).map_or(0, |s| s * 1000))
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

pub(crate) fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

#[cfg(test)]
mod tests {
    use super::guided_shares;

    #[test]
    fn guided_shares_cover_the_events_once_and_shrink_to_the_floor() {
        for threads in 1..=8 {
            let shares = guided_shares(threads);
            let total: f64 = shares.iter().sum();
            assert!((total - 1.0).abs() < 1e-9, "{threads}: {total}");
            assert!(
                shares.windows(2).all(|w| w[0] >= w[1]),
                "{threads}: {shares:?}"
            );
            let floor = 1.0 / (48.0 * threads as f64);
            // Every part but the last (what is left) is at least the floor; the last few
            // are about the floor, so that threads end together.
            assert!(
                shares[..shares.len() - 1]
                    .iter()
                    .all(|&s| s >= floor - 1e-12)
            );
            assert!(
                shares[shares.len() - 2] <= 1.5 * floor,
                "{threads}: {shares:?}"
            );
            assert!(shares.len() < 64 * threads, "{threads}: {}", shares.len());
        }
    }
}
