//! One pass over customers: each customer placed in the funnel and counted into running
//! tallies. A pass holds only sums, so passes over disjoint customers (one per thread)
//! merge into the pass over all of them.

use std::borrow::Cow;

use parcours_store::scan::{CustomerView, TraitCursor, Traits};

use crate::HashMap;
use crate::analyze::{CodePlan, CustomerPlace, Model, Options, says_of_stage};
use crate::breakdown::{self, Breakdown, MAX_GROUPS, NONE, OTHER};
use crate::calendar::Calendar;
use crate::cond::{CustomerState, EventTexts, History, Names, Scope, bits, resolve_bits};
use crate::funnel::{Millis, Placement, place_events};
use crate::kpi::{self, CustomerKpiInput, Delta};
use crate::opportunity;
use crate::paths::{PathCounts, collapse};
use crate::tally::{CohortStep, Cohorts, Facts, StageTouchpoints, Tally};
use crate::walk::{Steps, WalkCounts, WalkSummary, Walked, walk};

/// Distinct values of a breakdown attribute counted separately during a pass; beyond, the
/// customers go to [`OTHER`]. The report keeps the [`MAX_GROUPS`] largest.
pub(crate) const TRACKED_GROUPS: usize = 1000;

/// What every pass of one analysis shares.
pub(crate) struct Context<'a> {
    pub model: &'a Model<'a>,
    pub options: &'a Options,
    pub names: Names<'a>,
    pub calendar: Calendar,
    /// The end of the period (last millisecond).
    pub now: Millis,
    /// The journey window in milliseconds.
    pub window: Option<Millis>,
}

/// Sums that merge: counts over disjoint sets of customers add up.
pub(crate) trait Merge {
    /// Adds the counts of `other`, over other customers.
    fn merge(&mut self, other: Self);
    /// Customers counted.
    fn customers(&self) -> u64;
}

/// Groups of one attribute.
#[derive(Debug)]
pub(crate) struct Groups<T> {
    pub by: Breakdown,
    /// The position of each value's group in `groups`.
    index: hashbrown::HashMap<String, u32, foldhash::fast::RandomState>,
    groups: Vec<(String, T)>,
    /// Per value id (see [`Groups::slot`]): the position of its group, or [`UNSEEN`]. A
    /// value met again is found without hashing its text.
    by_id: Vec<u32>,
}

/// A value id not met yet.
const UNSEEN: u32 = u32::MAX;

/// Value ids from here on are looked up by text: a trait with more distinct values would
/// take more memory for ids than the texts save.
const MAX_IDS: usize = 1 << 16;

/// The id of a value that has none.
pub(crate) const NO_ID: u32 = u32::MAX;

impl<T: Merge> Groups<T> {
    fn new(by: Breakdown) -> Groups<T> {
        Groups {
            by,
            index: hashbrown::HashMap::default(),
            groups: Vec::new(),
            by_id: Vec::new(),
        }
    }

    /// The group of the value `id` stands for, when met before in this pass.
    fn known(&mut self, id: u32) -> Option<&mut T> {
        let at = self.known_at(id)?;
        Some(&mut self.groups[at as usize].1)
    }

    fn known_at(&self, id: u32) -> Option<u32> {
        self.by_id
            .get(id as usize)
            .copied()
            .filter(|&at| at != UNSEEN)
    }

    /// The group of `value`, whose `id` (or [`NO_ID`]) stands for it within this pass:
    /// equal ids, equal values.
    fn slot(&mut self, id: u32, value: &str, make: impl FnOnce() -> T) -> &mut T {
        if let Some(at) = self.known_at(id) {
            return &mut self.groups[at as usize].1;
        }
        let at = match self.index.get(value) {
            Some(&at) => at,
            None => {
                // Beyond the values tracked (open-ended ones), customers go to OTHER.
                let key = if self.index.len() < TRACKED_GROUPS {
                    value
                } else {
                    OTHER
                };
                match self.index.get(key) {
                    Some(&at) => at,
                    None => {
                        let at = self.groups.len() as u32;
                        self.groups.push((key.to_string(), make()));
                        self.index.insert(key.to_string(), at);
                        at
                    }
                }
            }
        };
        let slot = id as usize;
        if slot < MAX_IDS {
            if self.by_id.len() <= slot {
                self.by_id.resize(slot + 1, UNSEEN);
            }
            self.by_id[slot] = at;
        }
        &mut self.groups[at as usize].1
    }

    /// How many groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// The groups, by value.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.groups.iter().map(|(value, group)| (value, group))
    }

    /// The group of `value`.
    pub fn get(&self, value: &str) -> Option<&T> {
        self.index.get(value).map(|&at| &self.groups[at as usize].1)
    }

    /// Adds a group, or merges it into the group of the same value.
    fn add(&mut self, value: String, group: T) {
        match self.index.get(&value) {
            Some(&at) => self.groups[at as usize].1.merge(group),
            None => {
                self.index.insert(value.clone(), self.groups.len() as u32);
                self.groups.push((value, group));
            }
        }
    }

    fn merge(&mut self, other: Groups<T>) {
        // Ids stand for values within one pass only.
        self.by_id.clear();
        for (value, theirs) in other.groups {
            self.add(value, theirs);
        }
    }

    /// Keeps the [`MAX_GROUPS`] largest groups (ties by value) and puts the others in
    /// [`OTHER`].
    pub fn keep_largest(&mut self) {
        if self.groups.len() <= MAX_GROUPS {
            return;
        }
        self.by_id.clear();
        self.index.clear();
        let mut groups = std::mem::take(&mut self.groups);
        let other = groups
            .iter()
            .position(|(value, _)| value == OTHER)
            .map(|at| groups.swap_remove(at).1);
        groups.sort_by(|a, b| {
            b.1.customers()
                .cmp(&a.1.customers())
                .then_with(|| a.0.cmp(&b.0))
        });
        let rest = groups.split_off((MAX_GROUPS - 1).min(groups.len()));
        for (value, group) in groups {
            self.add(value, group);
        }
        let mut other = other;
        for (_, group) in rest {
            match other.as_mut() {
                Some(other) => other.merge(group),
                None => other = Some(group),
            }
        }
        if let Some(other) = other {
            self.add(OTHER.to_string(), other);
        }
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

impl TroubleCounts {
    fn merge(&mut self, other: TroubleCounts) {
        add(&mut self.customers, &other.customers);
        add(&mut self.stages, &other.stages);
        add_map(&mut self.touchpoints, other.touchpoints);
        merge_maps(&mut self.values, other.values, |mine, weeks| {
            add(mine, &weeks)
        });
    }
}

/// Adds `other` element by element.
pub(crate) fn add(mine: &mut [u64], other: &[u64]) {
    for (a, b) in mine.iter_mut().zip(other) {
        *a += b;
    }
}

/// Adds `other` key by key.
pub(crate) fn add_map<K: std::hash::Hash + Eq>(mine: &mut HashMap<K, u64>, other: HashMap<K, u64>) {
    merge_maps(mine, other, |a, b| *a += b);
}

/// Moves the entries of `other` into `mine`, combining the values of keys in both.
pub(crate) fn merge_maps<K: std::hash::Hash + Eq, V>(
    mine: &mut HashMap<K, V>,
    other: HashMap<K, V>,
    mut combine: impl FnMut(&mut V, V),
) {
    for (key, value) in other {
        match mine.get_mut(&key) {
            Some(existing) => combine(existing, value),
            None => {
                mine.insert(key, value);
            }
        }
    }
}

/// Everything counted in a pass over customers.
pub(crate) struct Gathered {
    pub calendar: Calendar,
    pub now: Millis,
    pub overall: Tally,
    pub cohorts: Cohorts,
    pub by: Option<Groups<Tally>>,
    pub gaps: Vec<Groups<Cohorts>>,
    pub paths: PathCounts,
    pub trouble: HashMap<u32, TroubleCounts>,
    /// Customers with an event, per week.
    pub active: Vec<u64>,
    pub persona_sizes: Vec<u64>,
    pub segment_sizes: Vec<u64>,
    /// Events in the period.
    pub events: u64,
    /// Per catalogue entry, per week: events, when KPIs are counted from them (see
    /// [`Model::counted_by_code`]); else empty.
    pub code_weeks: Vec<u64>,
}

impl Gathered {
    /// Adds the counts of a pass over other customers.
    pub fn merge(&mut self, other: Gathered) {
        self.overall.merge(other.overall);
        self.cohorts.merge(other.cohorts);
        if let (Some(mine), Some(theirs)) = (self.by.as_mut(), other.by) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.gaps.iter_mut().zip(other.gaps) {
            mine.merge(theirs);
        }
        self.paths.merge(other.paths);
        merge_maps(&mut self.trouble, other.trouble, TroubleCounts::merge);
        add(&mut self.active, &other.active);
        add(&mut self.persona_sizes, &other.persona_sizes);
        add(&mut self.segment_sizes, &other.segment_sizes);
        self.events += other.events;
        add(&mut self.code_weeks, &other.code_weeks);
    }

    /// Some weekly cohort count went past what it holds ([`Cohorts::overflowed`]).
    pub fn cohorts_overflowed(&self) -> bool {
        self.cohorts.overflowed()
            || self
                .gaps
                .iter()
                .any(|dim| dim.iter().any(|(_, cohorts)| cohorts.overflowed()))
    }

    /// Once every pass is merged: the KPIs counted by event code, and the largest groups of
    /// each attribute.
    pub fn finish(&mut self, model: &Model<'_>) {
        let weeks = self.calendar.len().max(1);
        if !self.code_weeks.is_empty() {
            for &k in &model.counted_by_code {
                let events = |cond: usize, week: usize| -> f64 {
                    let decided = &model.kpi_events.by_code[cond];
                    let counted = decided
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| **d == Some(true));
                    counted
                        .map(|(code, _)| self.code_weeks[code * weeks + week])
                        .sum::<u64>() as f64
                };
                let Some((num, den)) = model.kpis[k].plan.counted_events() else {
                    continue;
                };
                let cells = &mut self.overall.kpis[k];
                let last = cells.len() - 1;
                for week in 0..weeks {
                    cells[week.min(last)].add(&Delta {
                        week: week as u16,
                        num: events(num, week),
                        den: den.map_or(0.0, |d| events(d, week)),
                        ..Delta::default()
                    });
                }
            }
        }
        if let Some(by) = self.by.as_mut() {
            by.keep_largest();
        }
        for dim in &mut self.gaps {
            dim.keep_largest();
        }
    }
}

/// Buffers reused from customer to customer.
#[derive(Default)]
struct Scratch {
    walked: Walked,
    history: History,
    deltas: Vec<Vec<Delta>>,
    in_stage: StageTouchpoints,
    member: Vec<usize>,
    trouble_seen: TroubleSeen,
    cohort_steps: Vec<CohortStep>,
    placement: Placement,
}

/// A pass over some customers.
pub(crate) struct Pass<'c> {
    cx: &'c Context<'c>,
    traits: TraitCursor<'c>,
    pub gathered: Gathered,
    scratch: Scratch,
    /// The customer's values of a breakdown attribute, kept from customer to customer.
    values: Vec<(u32, Cow<'c, str>)>,
    /// Per KPI: counted by event code ([`Gathered::code_weeks`]), not customer by customer.
    counted: Vec<bool>,
    /// The KPI event conditions matched customer by customer, as bits.
    walk_conds: u64,
    /// What the first walk does with each event code.
    steps: Steps,
    /// Per breakdown gap dimension: the trait's column in the traits loaded, for a trait.
    gap_trait_columns: Vec<Option<usize>>,
}

/// The bit of condition `c` (none past 64).
fn bit(c: usize) -> u64 {
    1u64.checked_shl(c as u32).unwrap_or(0)
}

impl<'c> Pass<'c> {
    /// The pass's counts, once its customers are all counted. A weekly cohort count holds
    /// up to `u32::MAX` and grows by at most one per customer: a pass over more customers
    /// than that marks its counts wrong.
    pub fn finish(mut self) -> Gathered {
        if self.gathered.overall.customers > u64::from(u32::MAX) {
            self.gathered.cohorts.mark_overflowed();
        }
        self.gathered
    }

    pub fn new(cx: &'c Context<'c>, traits: &'c Traits) -> Pass<'c> {
        let model = cx.model;
        let stages = model.stage_ids.len();
        let weeks = cx.calendar.len();
        // A breakdown needs every customer's KPI contributions.
        let by_code = cx.options.by.is_none() && !model.counted_by_code.is_empty();
        let mut counted = vec![false; model.kpis.len()];
        let mut walk_conds = u64::MAX;
        if by_code {
            for &k in &model.counted_by_code {
                counted[k] = true;
                if let Some((num, den)) = model.kpis[k].plan.counted_events() {
                    walk_conds &= !bit(num);
                    walk_conds &= !den.map_or(0, bit);
                }
            }
        }
        let gaps = model.gap_dimensions();
        let gap_trait_columns = gaps
            .iter()
            .map(|by| match by {
                Breakdown::Trait(name) => traits.column_of(name),
                _ => None,
            })
            .collect();
        Pass {
            counted,
            steps: Steps::new(model, walk_conds, weeks),
            walk_conds,
            gap_trait_columns,
            cx,
            traits: traits.cursor(),
            gathered: Gathered {
                overall: Tally::new(stages, model.touchpoint_ids.len(), model.kpis.len(), weeks),
                cohorts: Cohorts::new(stages, weeks),
                by: cx.options.by.clone().map(Groups::new),
                gaps: gaps.into_iter().map(Groups::new).collect(),
                paths: PathCounts::new(model.touchpoint_ids.len()),
                trouble: HashMap::default(),
                active: vec![0; weeks],
                persona_sizes: vec![0; model.persona_ids.len()],
                segment_sizes: vec![0; model.segments.len()],
                events: 0,
                code_weeks: if by_code {
                    vec![0; model.catalog.len() * weeks.max(1)]
                } else {
                    Vec::new()
                },
                now: cx.now,
                calendar: cx.calendar.clone(),
            },
            scratch: Scratch {
                history: History::listing(model.listed_codes.clone()),
                walked: Walked {
                    matched: vec![Vec::new(); model.kpi_events.conds.len()],
                    ..Walked::default()
                },
                deltas: vec![Vec::new(); model.kpis.len()],
                ..Scratch::default()
            },
            values: Vec::new(),
        }
    }

    /// Places one customer and counts them; hands their place to `each` when given.
    pub fn customer(
        &mut self,
        events: CustomerView<'_>,
        each: Option<&mut dyn FnMut(&CustomerPlace)>,
    ) {
        let cx = self.cx;
        let model = cx.model;
        let journey = model.journey;
        let stages = model.stage_ids.len();
        let weeks = cx.calendar.len();
        let now = cx.now;
        let names = &cx.names;
        let calendar = &cx.calendar;
        let week16 = |at: Millis| calendar.week(at) as u16;
        let Scratch {
            walked,
            history,
            deltas,
            in_stage,
            member,
            trouble_seen,
            cohort_steps,
            placement,
        } = &mut self.scratch;
        let gathered = &mut self.gathered;
        let (start, end) = period_range(&events, cx.options);
        if start == end {
            return;
        }
        gathered.events += (end - start) as u64;
        let texts = EventTexts {
            properties: events.properties,
            context: events.context,
            first: start,
        };
        // One walk does what the event codes alone decide: stage hits, KPI matches, the
        // touchpoint path, active weeks. What the codes leave open is noted, and only the
        // events it concerns are walked again, once every event's view exists.
        let WalkSummary {
            open_touchpoints,
            open_kpis,
            trouble,
        } = walk(
            &self.steps,
            calendar,
            &events.code[start..end],
            &events.at[start..end],
            walked,
            WalkCounts {
                active: &mut gathered.active,
                code_weeks: &mut gathered.code_weeks,
            },
        );
        let Walked {
            views,
            stage_bits,
            weeks: event_weeks,
            matched,
            path,
            open_events,
            listed,
            present,
        } = walked;
        let state = CustomerState {
            traits: self.traits.of(events.customer),
            stage: None,
            persona: None,
        };
        history.reset();
        history.list_among(listed);
        if open_touchpoints {
            for i in 0..views.len() {
                let plan = plan_of(model, views[i].code);
                if plan.touchpoint.is_some() {
                    continue;
                }
                let scope = model.scope(views, texts, state, now, names);
                views[i].touchpoint = model
                    .touchpoints
                    .iter()
                    .position(|tp| {
                        tp.as_ref()
                            .is_some_and(|tp| tp.on_event(&scope, history, i))
                    })
                    .map(|t| t as u16);
            }
            history.reset();
            history.list_among(listed);
            collapse(views.iter().map(|v| v.touchpoint), path);
        }
        // KPI conditions are matched in the same walk as the stages, unless they are too
        // many to keep as bits or one the codes leave open reads the customer's stage or
        // persona, known only once placed (`EventConds::decided_before_placing`).
        let kpis_now = model.kpis_before_placing || !open_kpis;
        let open_walked = if kpis_now { self.walk_conds } else { 0 };
        if !open_events.is_empty() {
            let scope = model.scope(views, texts, state, now, names);
            // Conditions matched by this walk, after the ones the codes decided.
            let mut late = 0u64;
            for &i in open_events.iter() {
                let i = i as usize;
                let view = &views[i];
                let plan = plan_of(model, view.code);
                if plan.stages_open != 0 {
                    stage_bits[i] |= resolve_bits(0, plan.stages_open, |stage| {
                        model.stages[stage]
                            .as_ref()
                            .is_some_and(|c| c.on_event(&scope, history, i))
                    });
                }
                if plan.kpis_open & open_walked != 0 {
                    let met = resolve_bits(0, plan.kpis_open & open_walked, |c| {
                        model.kpi_events.conds[c].on_event(&scope, history, i)
                    });
                    for c in bits(met) {
                        matched[c].push(i as u32);
                    }
                    late |= met;
                }
            }
            for c in bits(late) {
                matched[c].sort_unstable();
            }
        }
        place_events(
            &events.at[start..end],
            stage_bits,
            stages,
            cx.window,
            placement,
        );
        let placement: &Placement = placement;
        // Persona, then segments (which may read stage and persona).
        let mut state = CustomerState {
            stage: placement.furthest,
            ..state
        };
        let scope = model.scope(views, texts, state, now, names);
        let persona = model.personas.iter().position(|p| {
            p.as_ref()
                .is_some_and(|p| p.on_customer_among(&scope, history, present))
        });
        if let Some(p) = persona {
            gathered.persona_sizes[p] += 1;
        }
        state.persona = persona.map(|p| p as u16);
        let scope = model.scope(views, texts, state, now, names);
        member.clear();
        for (index, segment) in model.segments.iter().enumerate() {
            if segment.on_customer_among(&scope, history, present) {
                gathered.segment_sizes[index] += 1;
                member.push(index);
            }
        }
        // KPIs.
        if !kpis_now {
            kpi::match_events(&model.kpi_events, &scope, history, matched);
        }
        let input = CustomerKpiInput {
            scope: &scope,
            matched,
            first_met: &placement.first_met,
            weeks: event_weeks,
            week_of: &week16,
            present,
        };
        for ((kpi, out), &counted) in model.kpis.iter().zip(deltas.iter_mut()).zip(&self.counted) {
            out.clear();
            if counted {
                continue;
            }
            kpi::contribute(kpi, &input, history, out);
        }
        // Paths and touchpoints around leaving.
        gathered.paths.add(path, placement.level, stages);
        let relevant = |tp: u16, s: usize| says_of_stage(model.touchpoint_stage[tp as usize], s);
        let level = placement.level as usize;
        let last_touchpoint = level.checked_sub(1).and_then(|s| {
            views
                .iter()
                .rev()
                .find_map(|v| v.touchpoint.filter(|&tp| relevant(tp, s)))
        });
        in_stage.clear(stages, model.touchpoint_ids.len());
        in_stage.gather(
            views,
            &placement.reached_at,
            level,
            &model.relevant_low,
            relevant,
        );
        let facts = Facts {
            placement,
            first_event: views[0].at,
            kpis: deltas,
            last_touchpoint,
            touchpoints_in_stage: in_stage,
        };
        gathered.overall.add(&facts);
        // Stages are reached at times that never decrease, from the first event on.
        let mut week_walk = calendar.walk_from(event_weeks[0] as usize);
        let mut week_of = |at: Millis| week_walk.week(at) as usize;
        Cohorts::steps(&facts, stages, weeks, &mut week_of, cohort_steps);
        gathered.cohorts.add(cohort_steps);
        if trouble {
            count_trouble(
                model,
                &scope,
                placement,
                event_weeks,
                weeks,
                trouble_seen,
                &mut gathered.trouble,
            );
        }
        let first_touchpoint = path.first().map(|&tp| tp as usize);
        let none = || Cow::Borrowed(NONE);
        // Each value with a number standing for it in this pass (see `Groups::slot`): the
        // persona, segment or first touchpoint plus one, the trait value's id plus one; 0
        // for none.
        let id_of = |index: Option<usize>| index.map_or(0, |i| i as u32 + 1);
        let value_of = |by: &Breakdown, values: &mut Vec<(u32, Cow<'c, str>)>| {
            values.clear();
            match by {
                Breakdown::Persona => values.push((
                    id_of(persona),
                    persona.map_or_else(none, |p| Cow::Borrowed(&model.persona_ids[p])),
                )),
                Breakdown::Segment => {
                    if member.is_empty() {
                        values.push((0, none()));
                    } else {
                        values.extend(member.iter().map(|&s| {
                            (
                                id_of(Some(s)),
                                Cow::Borrowed(journey.segments[s].id.as_str()),
                            )
                        }));
                    }
                }
                Breakdown::Channel => values.push((
                    id_of(first_touchpoint),
                    Cow::Borrowed(first_touchpoint.map_or(NONE, |tp| model.channels[tp])),
                )),
                Breakdown::Prop(name) => values.push((
                    NO_ID,
                    breakdown::first_field(&texts, views.len(), false, name)
                        .map_or_else(none, Cow::Owned),
                )),
                Breakdown::Context(name) => values.push((
                    NO_ID,
                    breakdown::first_field(&texts, views.len(), true, name)
                        .map_or_else(none, Cow::Owned),
                )),
                Breakdown::Trait(name) => {
                    let traits = state.traits;
                    let id = traits.and_then(|t| t.value_id(name.as_str()));
                    let value = traits
                        .and_then(|t| t.get(name.as_str()))
                        .and_then(breakdown::label)
                        .unwrap_or_else(none);
                    values.push((id_of(id.map(|id| id as usize)), value));
                }
            }
        };
        let values = &mut self.values;
        if let Some(by) = gathered.by.as_mut() {
            value_of(&by.by, values);
            for (id, value) in values.drain(..) {
                by.slot(id, &value, || {
                    Tally::new(stages, model.touchpoint_ids.len(), model.kpis.len(), 1)
                })
                .add(&facts);
            }
        }
        for (dim, &column) in gathered.gaps.iter_mut().zip(&self.gap_trait_columns) {
            // The group is found by the number standing for the value, the value itself
            // only looked at the first time.
            let id = match &dim.by {
                Breakdown::Persona => Some(id_of(persona)),
                Breakdown::Channel => Some(id_of(first_touchpoint)),
                Breakdown::Trait(_) => Some(id_of(
                    column
                        .and_then(|c| state.traits.and_then(|t| t.value_id_at(c)))
                        .map(|id| id as usize),
                )),
                _ => None,
            };
            if let Some(group) = id.and_then(|id| dim.known(id)) {
                group.add(cohort_steps);
                continue;
            }
            value_of(&dim.by, values);
            for (id, value) in values.drain(..) {
                dim.slot(id, &value, || Cohorts::new(stages, weeks))
                    .add(cohort_steps);
            }
        }
        if let Some(each) = each {
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
        }
    }
}

fn count_trouble(
    model: &Model<'_>,
    scope: &Scope<'_>,
    placement: &Placement,
    event_weeks: &[u16],
    weeks: usize,
    seen: &mut TroubleSeen,
    trouble: &mut HashMap<u32, TroubleCounts>,
) {
    seen.weeks.clear();
    for (i, (view, &w)) in scope.events.iter().zip(event_weeks).enumerate() {
        if !plan_of(model, view.code).trouble {
            continue;
        }
        let w = w as usize;
        let counts = trouble.entry(view.code).or_insert_with(|| TroubleCounts {
            customers: vec![0; weeks],
            stages: vec![0; model.stage_ids.len()],
            touchpoints: HashMap::default(),
            values: HashMap::default(),
        });
        if !seen.weeks.contains(&(view.code, w)) {
            seen.weeks.push((view.code, w));
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
        for field in seen.fields(scope.texts.properties(i)) {
            match counts.values.get_mut(field.as_str()) {
                Some(per_week) => per_week[w] += 1,
                None => {
                    let mut per_week = vec![0; weeks];
                    per_week[w] += 1;
                    counts.values.insert(field.clone(), per_week);
                }
            }
        }
    }
}

/// What error-like events were met: the (code, week) pairs of the customer's, and the
/// `field=value` pairs of properties texts met before in the pass.
#[derive(Default)]
struct TroubleSeen {
    weeks: Vec<(u32, usize)>,
    /// [`opportunity::fields`] by text, up to a bound: error events repeat a few texts,
    /// but a text may also hold an id and never come back.
    by_text: HashMap<String, Vec<String>>,
}

impl TroubleSeen {
    const MAX_TEXTS: usize = 4096;

    fn fields(&mut self, properties: Option<&str>) -> &[String] {
        let Some(text) = properties else {
            return &[];
        };
        if !self.by_text.contains_key(text) {
            if self.by_text.len() >= Self::MAX_TEXTS {
                self.by_text.clear();
            }
            self.by_text
                .insert(text.to_owned(), opportunity::fields(Some(text)));
        }
        &self.by_text[text]
    }
}

/// The plan of a catalogue entry.
fn plan_of<'m>(model: &'m Model<'_>, code: u32) -> &'m CodePlan {
    model
        .code_plans
        .get(code as usize)
        .unwrap_or(&CodePlan::UNKNOWN)
}

/// The events of the period: `at` is sorted, so a range.
fn period_range(events: &CustomerView<'_>, options: &Options) -> (usize, usize) {
    let start = options
        .from
        .map_or(0, |from| events.at.partition_point(|&t| t < from));
    let end = options
        .to
        .map_or(events.len(), |to| events.at.partition_point(|&t| t < to));
    (start, end.max(start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A count of customers, the simplest group.
    #[derive(Debug, Default, PartialEq)]
    struct Count(u64);

    impl Merge for Count {
        fn merge(&mut self, other: Count) {
            self.0 += other.0;
        }
        fn customers(&self) -> u64 {
            self.0
        }
    }

    fn counted(groups: &Groups<Count>) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = groups.iter().map(|(v, c)| (v.clone(), c.0)).collect();
        out.sort();
        out
    }

    proptest! {
        /// Looking a value up by its id finds the group its text finds, open-ended values
        /// going to OTHER alike, whether ids are given, missing or shared by several ids.
        #[test]
        fn groups_found_by_id_are_the_groups_found_by_text(
            values in proptest::collection::vec(0u32..1500, 0..4000),
            ids_per_value in 1u32..3,
        ) {
            let mut by_text: Groups<Count> = Groups::new(Breakdown::Persona);
            let mut by_id: Groups<Count> = Groups::new(Breakdown::Persona);
            for (i, &v) in values.iter().enumerate() {
                let text = format!("v{v}");
                by_text.slot(NO_ID, &text, Count::default).0 += 1;
                // Equal ids for equal values; a value may have several ids, some none.
                let id = if v % 7 == 0 { NO_ID } else { v * ids_per_value + (i as u32 % ids_per_value) };
                by_id.slot(id, &text, Count::default).0 += 1;
            }
            prop_assert_eq!(counted(&by_text), counted(&by_id));
            by_text.keep_largest();
            by_id.keep_largest();
            prop_assert_eq!(counted(&by_text), counted(&by_id));
            prop_assert!(by_id.len() <= MAX_GROUPS);
        }
    }

    #[test]
    fn error_fields_are_read_once_per_text_and_their_texts_are_bounded() {
        let mut seen = TroubleSeen::default();
        let text = r#"{"code":"3DS_TIMEOUT","step":"payment","n":3}"#;
        assert_eq!(
            seen.fields(Some(text)),
            opportunity::fields(Some(text)).as_slice()
        );
        assert_eq!(
            seen.fields(Some(text)),
            ["code=3DS_TIMEOUT", "step=payment"]
        );
        assert!(seen.fields(None).is_empty());
        for i in 0..2 * TroubleSeen::MAX_TEXTS {
            let text = format!(r#"{{"order":"o-{i}"}}"#);
            assert_eq!(seen.fields(Some(&text)), [format!("order=o-{i}")]);
            assert!(seen.by_text.len() <= TroubleSeen::MAX_TEXTS);
        }
    }

    #[test]
    fn values_past_the_tracked_ones_go_to_other_and_stay_there() {
        let mut groups: Groups<Count> = Groups::new(Breakdown::Persona);
        for v in 0..TRACKED_GROUPS as u32 + 5 {
            groups.slot(v, &format!("v{v}"), Count::default).0 += 1;
        }
        // Seen again, by id: still in OTHER.
        let late = TRACKED_GROUPS as u32 + 2;
        groups.slot(late, &format!("v{late}"), Count::default).0 += 1;
        assert_eq!(groups.len(), TRACKED_GROUPS + 1);
        assert_eq!(groups.get(OTHER).map(|c| c.0), Some(6));
        assert!(groups.get(&format!("v{late}")).is_none());
    }
}
