//! The first walk over a customer's events: everything the event codes alone decide (stage
//! hits, KPI matches, touchpoints and their path, weeks, active weeks, events per code and
//! week), and which events a condition still has to look at.
//!
//! It runs once per event of every analysis, so what it reads of a code is packed in one
//! [`Step`] found from the store's code with one lookup, and it is kept out of the rest of
//! the pass: in a function of its own its counters stay in registers.

use crate::analyze::{CodePlan, Model};
use crate::calendar::Calendar;
use crate::cond::{CodeSet, EventView};
use crate::funnel::Millis;

/// A touchpoint value of [`Step::touchpoint`]: the code leaves the event without one.
const NO_TOUCHPOINT: u16 = u16::MAX;
/// A touchpoint value of [`Step::touchpoint`]: the event itself decides.
const OPEN_TOUCHPOINT: u16 = u16::MAX - 1;

/// What the walk does with the events of one code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Stages whose condition the code alone meets, as bits.
    stages_met: u64,
    /// KPI event conditions matched in the walk that the code alone meets, as bits.
    kpis_met: u64,
    /// The code's bit among the codes below 64 (0 for the others).
    low_bit: u64,
    /// The catalogue entry.
    code: u32,
    /// Where the code's row of events per week starts: `code` times the weeks.
    week_row: u32,
    /// The touchpoint, [`NO_TOUCHPOINT`] or [`OPEN_TOUCHPOINT`].
    touchpoint: u16,
    /// A stage or KPI condition needs the event itself.
    open: bool,
    /// A history function finds the code's events by code ([`Walked::listed`]).
    listed: bool,
    /// [`OPEN_TOUCHPOINT_FLAG`], [`OPEN_KPIS_FLAG`], [`TROUBLE_FLAG`].
    flags: u8,
    /// Any of `open`, `listed`, `flags`, or a code past 64: the walk looks at those only
    /// when this is set, one test per event for what most events do not need.
    rare: bool,
}

/// A [`Step::flags`] bit: the event itself decides its touchpoint.
const OPEN_TOUCHPOINT_FLAG: u8 = 1;
/// A [`Step::flags`] bit: a KPI condition needs the event itself.
const OPEN_KPIS_FLAG: u8 = 2;
/// A [`Step::flags`] bit: an error-like event.
const TROUBLE_FLAG: u8 = 4;

impl Step {
    fn new(code: u32, plan: &CodePlan, walk_conds: u64, weeks: usize) -> Step {
        let flag = |on: bool, flag: u8| if on { flag } else { 0 };
        let low_bit = 1u64.checked_shl(code).unwrap_or(0);
        let open = plan.stages_open | plan.kpis_open != 0;
        let flags = flag(plan.touchpoint.is_none(), OPEN_TOUCHPOINT_FLAG)
            | flag(plan.kpis_open != 0, OPEN_KPIS_FLAG)
            | flag(plan.trouble, TROUBLE_FLAG);
        Step {
            stages_met: plan.stages_met,
            kpis_met: plan.kpis_met & walk_conds,
            low_bit,
            code,
            week_row: code.saturating_mul(weeks as u32),
            touchpoint: match plan.touchpoint {
                None => OPEN_TOUCHPOINT,
                Some(None) => NO_TOUCHPOINT,
                Some(Some(tp)) => tp,
            },
            open,
            listed: plan.listed,
            flags,
            rare: open || plan.listed || flags != 0 || low_bit == 0,
        }
    }
}

/// The [`Step`] of every store code.
pub(crate) struct Steps {
    by_store_code: Vec<Step>,
    /// For a code missing from the catalogue: the first entry's, as the catalogue index 0
    /// stands for unknown codes everywhere else.
    fallback: Step,
}

impl Steps {
    /// The steps of `model`'s codes; `walk_conds` are the KPI conditions matched in the walk,
    /// `weeks` those of the calendar.
    pub fn new(model: &Model<'_>, walk_conds: u64, weeks: usize) -> Steps {
        Steps::of_plans(&model.code_index, &model.code_plans, walk_conds, weeks)
    }

    /// The steps of store codes whose catalogue entries are `code_index`, planned as
    /// `plans` says.
    fn of_plans(code_index: &[u32], plans: &[CodePlan], walk_conds: u64, weeks: usize) -> Steps {
        let weeks = weeks.max(1);
        let step = |code: u32| {
            let plan = plans.get(code as usize).unwrap_or(&CodePlan::UNKNOWN);
            Step::new(code, plan, walk_conds, weeks)
        };
        Steps {
            by_store_code: code_index.iter().map(|&code| step(code)).collect(),
            fallback: step(0),
        }
    }

    fn of(&self, store_code: i32) -> &Step {
        // A negative code turns into one past any table.
        self.by_store_code
            .get(store_code as u32 as usize)
            .unwrap_or(&self.fallback)
    }
}

/// What the walk writes, per event or per customer; buffers reused from one customer to the
/// next.
#[derive(Default)]
pub(crate) struct Walked {
    /// Per event: its view.
    pub views: Vec<EventView>,
    /// Per event: the stages whose condition it meets, as bits (those its code decides).
    pub stage_bits: Vec<u64>,
    /// Per event: its week.
    pub weeks: Vec<u16>,
    /// Per KPI event condition matched in the walk: the events it matches.
    pub matched: Vec<Vec<u32>>,
    /// The touchpoints met, each repeat collapsed (those the codes decide).
    pub path: Vec<u16>,
    /// The events whose code leaves a stage or KPI condition open.
    pub open_events: Vec<u32>,
    /// The events whose code a history function finds them by (`Step::listed`).
    pub listed: Vec<u32>,
    /// The codes among the events.
    pub present: CodeSet,
}

/// What the walk found of the customer's events as a whole.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WalkSummary {
    /// Some event's touchpoint depends on more than its code.
    pub open_touchpoints: bool,
    /// Some event's KPI matches depend on more than its code.
    pub open_kpis: bool,
    /// Some event is error-like.
    pub trouble: bool,
}

/// Counts kept across customers.
pub(crate) struct WalkCounts<'a> {
    /// Per week: customers with an event.
    pub active: &'a mut [u64],
    /// Per catalogue entry then week: events; empty when not counted.
    pub code_weeks: &'a mut [u64],
}

/// Walks the events of codes `store_codes` at times `at` (in order).
#[inline(never)]
pub(crate) fn walk(
    steps: &Steps,
    calendar: &Calendar,
    store_codes: &[i32],
    at: &[Millis],
    out: &mut Walked,
    counts: WalkCounts<'_>,
) -> WalkSummary {
    let Walked {
        views,
        stage_bits,
        weeks,
        matched,
        path,
        open_events,
        listed,
        present,
    } = out;
    let n = store_codes.len().min(at.len());
    let (store_codes, at) = (&store_codes[..n], &at[..n]);
    // The per-event outputs are sized then written by index: a push per event and output
    // kept each length and room check in the loop, and their counters out of registers.
    // Resized from the previous customer's length, so that only room never used before is
    // filled: every value below `n` is written here.
    let unset = EventView {
        at: 0,
        code: 0,
        touchpoint: None,
    };
    views.resize(n, unset);
    stage_bits.resize(n, 0);
    weeks.resize(n, 0);
    let (views_out, bits_out, weeks_out) = (&mut views[..n], &mut stage_bits[..n], &mut weeks[..n]);
    for list in matched.iter_mut() {
        list.clear();
    }
    path.clear();
    open_events.clear();
    listed.clear();
    present.clear();
    let WalkCounts { active, code_weeks } = counts;
    let by_code_weeks = !code_weeks.is_empty();
    // Counts past the last week go to it, as the tallies clamp.
    let last_slot = calendar.len().max(1) - 1;
    // The week of the events so far, and where it ends: weeks change a few times per
    // customer, so the calendar is read only then. The first event always reads it.
    let (mut week, mut slot, mut week_end) = (0u16, 0usize, Millis::MIN);
    let mut last_touchpoint = NO_TOUCHPOINT;
    // The codes below 64 met (most catalogues have fewer), gathered in a register.
    let (mut low_codes, mut flags) = (0u64, 0u8);
    for i in 0..n {
        let step = steps.of(store_codes[i]);
        let at = at[i];
        low_codes |= step.low_bit;
        if step.rare {
            flags |= step.flags;
            if step.open {
                open_events.push(i as u32);
            }
            if step.listed {
                listed.push(i as u32);
            }
            if step.low_bit == 0 {
                present.insert(step.code);
            }
        }
        if at >= week_end {
            let w = calendar.week(at);
            week = w as u16;
            slot = w.min(last_slot);
            week_end = if w < last_slot {
                calendar.end(w)
            } else {
                Millis::MAX
            };
            // Weeks never decrease: a customer is active once per week met.
            active[w] += 1;
        }
        weeks_out[i] = week;
        if by_code_weeks {
            code_weeks[step.week_row as usize + slot] += 1;
        }
        bits_out[i] = step.stages_met;
        let mut kpis = step.kpis_met;
        while kpis != 0 {
            matched[kpis.trailing_zeros() as usize].push(i as u32);
            kpis &= kpis - 1;
        }
        let touchpoint = (step.touchpoint < OPEN_TOUCHPOINT).then_some(step.touchpoint);
        if let Some(tp) = touchpoint
            && tp != last_touchpoint
        {
            path.push(tp);
            last_touchpoint = tp;
        }
        views_out[i] = EventView {
            at,
            code: step.code,
            touchpoint,
        };
    }
    present.insert_low(low_codes);
    WalkSummary {
        open_touchpoints: flags & OPEN_TOUCHPOINT_FLAG != 0,
        open_kpis: flags & OPEN_KPIS_FLAG != 0,
        trouble: flags & TROUBLE_FLAG != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;

    fn plan(touchpoint: Option<Option<u16>>, stages_met: u64, kpis_met: u64) -> CodePlan {
        CodePlan {
            touchpoint,
            stages_met,
            kpis_met,
            ..CodePlan::UNKNOWN
        }
    }

    #[test]
    fn the_walk_records_what_each_code_decides() {
        // Store codes 0..4 are catalogue entries 2, 0, 1, 3.
        let code_index = [2, 0, 1, 3];
        let plans = [
            plan(Some(Some(0)), 0b01, 0b11),
            CodePlan {
                listed: true,
                ..plan(Some(None), 0b10, 0)
            },
            plan(Some(Some(1)), 0, 0b10),
            CodePlan {
                stages_open: 0b100,
                trouble: true,
                ..plan(None, 0, 0)
            },
        ];
        // The second KPI condition is counted elsewhere.
        let calendar = Calendar::new(0, 21 * DAY, "UTC");
        let steps = Steps::of_plans(&code_index, &plans, 0b01, calendar.len());
        let store_codes = [1, 1, 2, 0, 1, 3, -4, 9];
        let at = [
            0,
            DAY,
            2 * DAY,
            3 * DAY,
            8 * DAY,
            9 * DAY,
            16 * DAY,
            17 * DAY,
        ];
        let mut out = Walked {
            matched: vec![Vec::new(); 2],
            ..Walked::default()
        };
        let (mut active, mut code_weeks) = (vec![0; calendar.len()], vec![0; 4 * calendar.len()]);
        let counts = WalkCounts {
            active: &mut active,
            code_weeks: &mut code_weeks,
        };
        let summary = walk(&steps, &calendar, &store_codes, &at, &mut out, counts);
        let codes: Vec<u32> = out.views.iter().map(|v| v.code).collect();
        // Unknown store codes read as catalogue entry 0's.
        assert_eq!(codes, [0, 0, 1, 2, 0, 3, 0, 0]);
        let touchpoints: Vec<Option<u16>> = out.views.iter().map(|v| v.touchpoint).collect();
        assert_eq!(
            touchpoints,
            [
                Some(0),
                Some(0),
                None,
                Some(1),
                Some(0),
                None,
                Some(0),
                Some(0)
            ]
        );
        assert_eq!(out.path, [0, 1, 0]);
        assert_eq!(out.stage_bits, [1, 1, 2, 0, 1, 0, 1, 1]);
        assert_eq!(out.matched[0], [0, 1, 4, 6, 7]);
        assert!(out.matched[1].is_empty());
        assert_eq!(out.open_events, [5]);
        assert_eq!(out.listed, [2]);
        assert_eq!(out.weeks, [0, 0, 0, 0, 1, 1, 2, 2]);
        // 1970-01-01 is a Thursday: four weeks from Monday to Monday.
        assert_eq!(active, [1, 1, 1, 0]);
        // Catalogue entry 0: weeks 0, 1, 2.
        assert_eq!(code_weeks[..3], [2, 1, 2]);
        assert!(summary.open_touchpoints && summary.trouble && !summary.open_kpis);
        // Reused for the next customer: nothing left from this one.
        let mut active = vec![0; calendar.len()];
        let counts = WalkCounts {
            active: &mut active,
            code_weeks: &mut [],
        };
        walk(&steps, &calendar, &[0], &[DAY], &mut out, counts);
        assert_eq!(out.path, [1]);
        assert_eq!(out.stage_bits, [0]);
        assert!(out.matched[0].is_empty() && out.open_events.is_empty() && out.listed.is_empty());
    }

    #[test]
    fn codes_past_64_are_present_and_only_rare_codes_take_the_rare_path() {
        // Store codes 0 and 1 are catalogue entries 3 and 70, neither open nor listed.
        let mut plans = vec![CodePlan::UNKNOWN; 71];
        plans[3] = plan(Some(Some(0)), 0b1, 0);
        plans[70] = plan(Some(Some(1)), 0b10, 0);
        let steps = Steps::of_plans(&[3, 70], &plans, 0, 1);
        assert!(!steps.of(0).rare && steps.of(1).rare);
        let calendar = Calendar::new(0, 7 * DAY, "UTC");
        let mut out = Walked::default();
        let mut active = vec![0; calendar.len()];
        let counts = WalkCounts {
            active: &mut active,
            code_weeks: &mut [],
        };
        let summary = walk(&steps, &calendar, &[0, 1], &[0, DAY], &mut out, counts);
        assert!(out.present.contains(3) && out.present.contains(70));
        assert!(!out.present.contains(69) && !out.present.contains(6));
        assert!(!summary.open_touchpoints && !summary.open_kpis && !summary.trouble);
        assert_eq!(out.stage_bits, [0b1, 0b10]);
    }
}
