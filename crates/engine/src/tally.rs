//! Running counts over a group of customers, and the weekly cohorts behind trends and
//! conversion drops.

use crate::cond::{EventView, bits};
use crate::funnel::{Millis, Placement};
use crate::kpi::{Cell, Delta};
use crate::pass::{Merge, add};
use crate::stats::Quantiles;

/// What the tallies need to know about one placed customer.
pub(crate) struct Facts<'a> {
    pub placement: &'a Placement,
    /// Time of the customer's first event in the period.
    pub first_event: Millis,
    /// Per KPI, this customer's contributions.
    pub kpis: &'a [Vec<Delta>],
    /// The customer's last touchpoint.
    pub last_touchpoint: Option<u16>,
    /// Per stage reached, the touchpoints used while in it (until the next stage).
    pub touchpoints_in_stage: &'a StageTouchpoints,
}

/// Per stage, a set of touchpoints, as bits: a customer's stages see a few touchpoints
/// each, counted once however often they come back.
#[derive(Clone, Debug, Default)]
pub(crate) struct StageTouchpoints {
    /// Words of bits per stage.
    words: usize,
    bits: Vec<u64>,
}

impl StageTouchpoints {
    /// Empty sets for `stages` stages among `touchpoints` touchpoints.
    pub fn clear(&mut self, stages: usize, touchpoints: usize) {
        self.words = touchpoints.div_ceil(64);
        self.bits.clear();
        self.bits.resize(stages * self.words, 0);
    }

    /// Adds touchpoint `tp` to stage `stage`.
    pub fn insert(&mut self, stage: usize, tp: u16) {
        self.bits[stage * self.words + tp as usize / 64] |= 1 << (tp % 64);
    }

    /// Puts in each stage a customer reached in order (the first `level` of `reached_at`,
    /// times that never decrease) the touchpoints of `views` (in time order) from reaching it
    /// to reaching the next, those `relevant(tp, stage)` allows. `relevant_low[stage]` holds
    /// the same answers for the touchpoints below 64, as bits: theirs are gathered in a
    /// register while the stage lasts, where a write per event kept the loop in memory.
    pub fn gather(
        &mut self,
        views: &[EventView],
        reached_at: &[Option<Millis>],
        level: usize,
        relevant_low: &[u64],
        relevant: impl Fn(u16, usize) -> bool,
    ) {
        let Some(Some(from)) = reached_at.first().filter(|_| level > 0) else {
            return;
        };
        let until = |s: usize| {
            reached_at
                .get(s + 1)
                .copied()
                .flatten()
                .unwrap_or(Millis::MAX)
        };
        let (mut s, mut to, mut low) = (0, until(0), 0u64);
        let first = views.partition_point(|v| v.at < *from);
        for view in &views[first..] {
            if view.at >= to {
                self.insert_low(s, low & relevant_low[s]);
                low = 0;
                while view.at >= to && s < level {
                    s += 1;
                    to = until(s);
                }
                if s >= level {
                    return;
                }
            }
            match view.touchpoint {
                Some(tp) if tp < 64 => low |= 1 << tp,
                Some(tp) if relevant(tp, s) => self.insert(s, tp),
                _ => {}
            }
        }
        self.insert_low(s, low & relevant_low[s]);
    }

    /// Adds the touchpoints below 64 set in `low` to stage `stage`.
    fn insert_low(&mut self, stage: usize, low: u64) {
        if low != 0 {
            self.bits[stage * self.words] |= low;
        }
    }

    /// True when stage `stage` holds touchpoint `tp`.
    pub fn contains(&self, stage: usize, tp: u16) -> bool {
        self.bits[stage * self.words + tp as usize / 64] & (1 << (tp % 64)) != 0
    }

    /// The touchpoints of stage `stage`, lowest first.
    pub fn of(&self, stage: usize) -> impl Iterator<Item = usize> + '_ {
        let words = &self.bits[stage * self.words..(stage + 1) * self.words];
        words
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| bits(word).map(move |b| w * 64 + b))
    }
}

/// Stage counts, step times, exits and KPI sums over a group of customers.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    pub customers: u64,
    pub reached: Vec<u64>,
    pub current: Vec<u64>,
    /// Per stage: times from the previous stage, in seconds.
    pub step_times: Vec<Quantiles>,
    /// Per stage, per touchpoint: customers whose level stopped there, last seen at it.
    pub exits: Vec<Vec<u64>>,
    /// Per stage, per touchpoint: customers who used it while in the stage.
    pub visits: Vec<Vec<u64>>,
    /// Per KPI, per week (one cell when not weekly).
    pub kpis: Vec<Vec<Cell>>,
}

impl Tally {
    pub fn new(stages: usize, touchpoints: usize, kpis: usize, weeks: usize) -> Tally {
        Tally {
            customers: 0,
            reached: vec![0; stages],
            current: vec![0; stages],
            step_times: vec![Quantiles::default(); stages],
            exits: vec![vec![0; touchpoints]; stages],
            visits: vec![vec![0; touchpoints]; stages],
            kpis: vec![vec![Cell::default(); weeks.max(1)]; kpis],
        }
    }

    pub fn add(&mut self, facts: &Facts<'_>) {
        let stages = self.reached.len();
        let placement = facts.placement;
        self.customers += 1;
        let level = placement.level as usize;
        for s in 0..level {
            self.reached[s] += 1;
            if let Some(t) = placement.step_time[s] {
                // Whole seconds: exact below four minutes, within 0.4% above.
                self.step_times[s].add((t + 500) / 1000);
            }
            for tp in facts.touchpoints_in_stage.of(s) {
                self.visits[s][tp] += 1;
            }
        }
        if let Some(f) = placement.furthest {
            self.current[f as usize] += 1;
        }
        if level > 0
            && level < stages
            && let Some(tp) = facts.last_touchpoint
            && facts.touchpoints_in_stage.contains(level - 1, tp)
        {
            self.exits[level - 1][tp as usize] += 1;
        }
        let weekly = self.kpis.first().is_some_and(|w| w.len() > 1);
        for (cells, deltas) in self.kpis.iter_mut().zip(facts.kpis) {
            for delta in deltas {
                let w = if weekly { delta.week as usize } else { 0 };
                let last = cells.len() - 1;
                cells[w.min(last)].add(delta);
            }
        }
    }
}

impl Merge for Tally {
    /// Adds the counts of another tally of the same shape, over other customers.
    fn merge(&mut self, other: Tally) {
        self.customers += other.customers;
        add(&mut self.reached, &other.reached);
        add(&mut self.current, &other.current);
        for (mine, theirs) in self.step_times.iter_mut().zip(&other.step_times) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.exits.iter_mut().zip(&other.exits) {
            add(mine, theirs);
        }
        for (mine, theirs) in self.visits.iter_mut().zip(&other.visits) {
            add(mine, theirs);
        }
        for (mine, theirs) in self.kpis.iter_mut().zip(&other.kpis) {
            for (cell, other) in mine.iter_mut().zip(theirs) {
                cell.merge(other);
            }
        }
    }

    fn customers(&self) -> u64 {
        self.customers
    }
}

impl Tally {
    /// The KPI's cell over all weeks.
    pub fn kpi_total(&self, kpi: usize) -> Cell {
        let mut total = Cell::default();
        for cell in &self.kpis[kpi] {
            total.merge(cell);
        }
        total
    }
}

/// Upper bounds (seconds) of the delay buckets of [`Cohorts`]; the last bucket is open.
pub const DELAY_BOUNDS: [i64; 10] = [
    60,
    600,
    3_600,
    6 * 3_600,
    86_400,
    3 * 86_400,
    7 * 86_400,
    14 * 86_400,
    30 * 86_400,
    60 * 86_400,
];
const BUCKETS: usize = DELAY_BOUNDS.len() + 1;

/// The bucket of a delay in milliseconds.
pub fn delay_bucket(delay: Millis) -> usize {
    DELAY_BOUNDS.partition_point(|&b| b * 1000 < delay)
}

/// One stage's cells of a customer in [`Cohorts`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct CohortStep {
    /// Index in `entered`.
    entered: usize,
    /// When the customer reached the stage: indices in `delays` and `reached`.
    reached: Option<(usize, usize)>,
}

/// Weekly cohorts per stage: for stage `s`, the customers who reached the stage before it
/// (for the first stage: who had their first event) in week `w`, how many then reached `s`
/// and after how long; and who reached `s` in week `w`.
#[derive(Clone, Debug)]
pub(crate) struct Cohorts {
    pub stages: usize,
    pub weeks: usize,
    // Counts of 32 bits: in half the room, more of the groups' tables stay in the
    // first-level cache (8% fewer misses over a whole analysis than with 64 bits, in a
    // simulation of its caches). Within a pass a count never exceeds the pass's customers
    // (a customer counts once per cell), which the pass checks when it ends
    // ([`Cohorts::mark_overflowed`]); merged counts are checked as they add up. A count past
    // `u32::MAX` sets `overflowed`, which fails the analysis rather than report a wrapped
    // count.
    entered: Vec<u32>,
    delays: Vec<u32>,
    reached: Vec<u32>,
    overflowed: bool,
}

/// Adds `more` to `count`, or marks `overflowed`.
fn add_count(count: &mut u32, more: u32, overflowed: &mut bool) {
    match count.checked_add(more) {
        Some(sum) => *count = sum,
        None => *overflowed = true,
    }
}

impl Cohorts {
    pub fn new(stages: usize, weeks: usize) -> Cohorts {
        let weeks = weeks.max(1);
        Cohorts {
            stages,
            weeks,
            entered: vec![0; stages * weeks],
            delays: vec![0; stages * weeks * BUCKETS],
            reached: vec![0; stages * weeks],
            overflowed: false,
        }
    }

    /// Some count went past what 32 bits hold: the counts are wrong.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Marks the counts wrong: a pass counted more customers than 32 bits hold.
    pub fn mark_overflowed(&mut self) {
        self.overflowed = true;
    }

    /// Adds one customer, whose cells [`Cohorts::steps`] found.
    pub fn add(&mut self, steps: &[CohortStep]) {
        for step in steps {
            self.entered[step.entered] += 1;
            if let Some((delay, reached)) = step.reached {
                self.delays[delay] += 1;
                self.reached[reached] += 1;
            }
        }
    }

    /// The cells one customer counts in, the same in every cohort table of the pass (over
    /// `stages` stages and `weeks` weeks): found once, added to each group's table.
    /// `week_of` is asked for the first event's time, then for later and later ones.
    pub fn steps(
        facts: &Facts<'_>,
        stages: usize,
        weeks: usize,
        week_of: &mut dyn FnMut(Millis) -> usize,
        out: &mut Vec<CohortStep>,
    ) {
        out.clear();
        let weeks = weeks.max(1);
        let at = &facts.placement.reached_at;
        // The time a stage was reached and its week, the start of the next step.
        let mut before = Some((facts.first_event, week_of(facts.first_event)));
        for (s, reached) in at.iter().enumerate().take(stages) {
            let Some((since, week)) = before else { break };
            let entered = s * weeks + week;
            before = reached.map(|now| (now, week_of(now)));
            out.push(CohortStep {
                entered,
                reached: before.map(|(now, now_week)| {
                    (
                        entered * BUCKETS + delay_bucket(now - since),
                        s * weeks + now_week,
                    )
                }),
            });
        }
    }

    /// Customers who could move on to stage `s` from week `w`.
    pub fn entered(&self, s: usize, w: usize) -> u64 {
        u64::from(self.entered[s * self.weeks + w])
    }

    /// Of [`Cohorts::entered`], those who reached `s`, within delay bucket `max_bucket`.
    pub fn converted(&self, s: usize, w: usize, max_bucket: usize) -> u64 {
        let base = (s * self.weeks + w) * BUCKETS;
        self.delays[base..=base + max_bucket.min(BUCKETS - 1)]
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }

    /// Customers who reached stage `s` in week `w`.
    pub fn reached(&self, s: usize, w: usize) -> u64 {
        u64::from(self.reached[s * self.weeks + w])
    }

    /// Longest delay of bucket `b` in milliseconds (`None` for the open last one).
    pub fn bucket_bound(b: usize) -> Option<Millis> {
        DELAY_BOUNDS.get(b).map(|s| s * 1000)
    }

    /// The open last bucket, for conversions whatever their delay.
    pub const ANY_DELAY: usize = BUCKETS - 1;
}

impl Merge for Cohorts {
    fn merge(&mut self, other: Cohorts) {
        let overflowed = &mut self.overflowed;
        *overflowed |= other.overflowed;
        for (mine, theirs) in [
            (&mut self.entered, &other.entered),
            (&mut self.delays, &other.delays),
            (&mut self.reached, &other.reached),
        ] {
            for (count, &more) in mine.iter_mut().zip(theirs) {
                add_count(count, more, overflowed);
            }
        }
    }

    /// Customers who had a first event (entered the first stage's cohort).
    fn customers(&self) -> u64 {
        (0..self.weeks).map(|w| self.entered(0, w)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_fall_in_their_bucket() {
        assert_eq!(delay_bucket(0), 0);
        assert_eq!(delay_bucket(60_000), 0);
        assert_eq!(delay_bucket(60_001), 1);
        assert_eq!(delay_bucket(86_400_000), 4);
        assert_eq!(delay_bucket(100 * 86_400_000), 10);
    }

    #[test]
    fn cohort_counts_merged_past_32_bits_are_marked_not_wrapped() {
        let mut cohorts = Cohorts::new(1, 1);
        cohorts.entered[0] = u32::MAX - 1;
        let step = CohortStep {
            entered: 0,
            reached: None,
        };
        cohorts.add(&[step]);
        assert!(!cohorts.overflowed());
        assert_eq!(cohorts.entered(0, 0), u64::from(u32::MAX));
        // Merged counts past 32 bits, and a merged table that had overflowed.
        let (mut a, mut b) = (Cohorts::new(1, 1), Cohorts::new(1, 1));
        a.delays[3] = 3_000_000_000;
        b.delays[3] = 2_000_000_000;
        a.merge(b);
        assert!(a.overflowed());
        let (mut c, d) = (Cohorts::new(1, 1), a);
        c.merge(d);
        assert!(c.overflowed());
    }

    proptest::proptest! {
        /// Each week and stage's counts are those of their definitions, counted customer by
        /// customer: who could move on to the stage from that week, who did and within which
        /// delay, who reached it that week.
        #[test]
        fn cohort_counts_are_those_of_their_definitions(
            customers in proptest::collection::vec(
                (0i64..5, proptest::collection::vec(0i64..3_000_000, 0..4)),
                0..30,
            ),
        ) {
            const STAGES: usize = 3;
            const WEEKS: usize = 4;
            // Weeks of a million milliseconds, the last one open-ended.
            let week_of = |at: Millis| ((at / 1_000_000) as usize).min(WEEKS - 1);
            let mut cohorts = Cohorts::new(STAGES, WEEKS);
            let mut steps = Vec::new();
            let placements: Vec<(Millis, Placement)> = customers
                .iter()
                .map(|(first, gaps)| {
                    let first = first * 700_000;
                    let mut reached_at = vec![None; STAGES];
                    let mut at = first;
                    for (s, gap) in gaps.iter().take(STAGES).enumerate() {
                        at += gap;
                        reached_at[s] = Some(at);
                    }
                    (first, Placement { reached_at, ..Placement::default() })
                })
                .collect();
            for (first, placement) in &placements {
                let facts = Facts {
                    placement,
                    first_event: *first,
                    kpis: &[],
                    last_touchpoint: None,
                    touchpoints_in_stage: &StageTouchpoints::default(),
                };
                Cohorts::steps(&facts, STAGES, WEEKS, &mut |at| week_of(at), &mut steps);
                cohorts.add(&steps);
            }
            for s in 0..STAGES {
                // When the customer could move on to stage `s`, and when they reached it.
                let start = |(first, p): &(Millis, Placement)| if s == 0 { Some(*first) } else { p.reached_at[s - 1] };
                for w in 0..WEEKS {
                    let entered: Vec<&(Millis, Placement)> = placements
                        .iter()
                        .filter(|c| start(c).is_some_and(|t| week_of(t) == w))
                        .collect();
                    proptest::prop_assert_eq!(cohorts.entered(s, w), entered.len() as u64);
                    let reached = placements
                        .iter()
                        .filter(|(_, p)| p.reached_at[s].is_some_and(|t| week_of(t) == w))
                        .count();
                    proptest::prop_assert_eq!(cohorts.reached(s, w), reached as u64);
                    for bucket in 0..BUCKETS {
                        let converted = entered
                            .iter()
                            .filter(|c| {
                                c.1.reached_at[s].is_some_and(|t| delay_bucket(t - start(c).unwrap_or(t)) <= bucket)
                            })
                            .count();
                        proptest::prop_assert_eq!(cohorts.converted(s, w, bucket), converted as u64, "stage {} week {} bucket {}", s, w, bucket);
                    }
                }
            }
        }

        /// The sets hold what was put in each stage, once, whatever the touchpoint count
        /// (more than one word of bits included), and are empty again once cleared.
        #[test]
        fn stage_touchpoints_hold_what_each_stage_was_given(
            touchpoints in 1usize..200,
            given in proptest::collection::vec((0usize..4, 0u16..200), 0..40),
        ) {
            let mut sets = StageTouchpoints::default();
            sets.clear(4, touchpoints);
            let mut expected = vec![std::collections::BTreeSet::new(); 4];
            for &(stage, tp) in given.iter().filter(|(_, tp)| (*tp as usize) < touchpoints) {
                sets.insert(stage, tp);
                expected[stage].insert(tp as usize);
            }
            for (stage, tps) in expected.iter().enumerate() {
                proptest::prop_assert_eq!(sets.of(stage).collect::<Vec<_>>(), tps.iter().copied().collect::<Vec<_>>());
                for tp in 0..touchpoints as u16 {
                    proptest::prop_assert_eq!(sets.contains(stage, tp), tps.contains(&(tp as usize)));
                }
            }
            sets.clear(4, touchpoints);
            proptest::prop_assert!((0..4).all(|s| sets.of(s).next().is_none()));
        }

        /// Gathering a customer's touchpoints stage by stage, those below 64 as bits, puts
        /// in each stage what testing every event in turn puts there, whatever the
        /// touchpoint count (more than one word of bits included).
        #[test]
        fn touchpoints_gathered_per_stage_are_those_of_each_event_in_turn(
            touchpoints in 1u16..150,
            events in proptest::collection::vec((0i64..40, proptest::option::of(0u16..150)), 0..40),
            steps in proptest::collection::vec(0i64..15, 0..5),
            level in 0usize..5,
            stage_of in proptest::collection::vec(proptest::option::of(0u16..5), 150),
        ) {
            const STAGES: usize = 4;
            let mut views: Vec<EventView> = events
                .iter()
                .map(|&(at, tp)| EventView { at, code: 0, touchpoint: tp.filter(|&tp| tp < touchpoints) })
                .collect();
            views.sort_by_key(|v| v.at);
            // Stages reached at times that never decrease, from the first event's on.
            let start = views.first().map_or(0, |v| v.at);
            let mut reached_at = vec![None; STAGES];
            let mut at = start;
            for (s, step) in steps.iter().take(STAGES).enumerate() {
                reached_at[s] = Some(at);
                at += step;
            }
            // The chain reached the first `level` stages, and those only.
            let level = level.min(reached_at.iter().take_while(|r| r.is_some()).count());
            reached_at[level..].fill(None);
            let relevant = |tp: u16, s: usize| stage_of[tp as usize].is_none_or(|ts| ts as usize <= s + 1);
            let relevant_low: Vec<u64> = (0..STAGES)
                .map(|s| (0..64u16).filter(|&tp| relevant(tp, s)).fold(0, |bits, tp| bits | 1 << tp))
                .collect();
            let mut gathered = StageTouchpoints::default();
            gathered.clear(STAGES, touchpoints as usize);
            gathered.gather(&views, &reached_at, level, &relevant_low, relevant);
            let mut expected = StageTouchpoints::default();
            expected.clear(STAGES, touchpoints as usize);
            for view in &views {
                let Some(tp) = view.touchpoint else { continue };
                // The stage the event falls in: the last reached at or before it, of the
                // first `level`.
                let stage = (0..level).rev().find(|&s| reached_at[s].is_some_and(|r| r <= view.at));
                if let Some(s) = stage && relevant(tp, s) {
                    expected.insert(s, tp);
                }
            }
            for s in 0..STAGES {
                proptest::prop_assert_eq!(gathered.of(s).collect::<Vec<_>>(), expected.of(s).collect::<Vec<_>>(), "stage {}", s);
            }
        }
    }
}
