//! Where a customer stands in the journey: the ordered funnel level, exactly as ClickHouse's
//! `windowFunnel(window)(timestamp, cond_1, ..., cond_n)` computes it in its default mode,
//! and the furthest stage reached in any order.
//!
//! The level algorithm, step by step (it is what users compare us with, so it is copied in
//! meaning, not improved): every (event, stage whose condition the event meets) pair is a
//! *step hit*; hits are ordered by time, then by stage. A hit on the first stage starts a
//! chain at its time (a later one restarts it, without undoing levels already reached). A
//! hit on stage `k > 1` extends the chain that reached `k - 1` when it happens no later than
//! that chain's start plus the window (inclusive). The level is the highest stage any chain
//! reached. One event meeting two consecutive stages' conditions advances both.

/// Milliseconds since 1970, UTC.
pub type Millis = i64;

/// One event meeting one stage's condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// When the event happened.
    pub at: Millis,
    /// The stage, 0-based in journey order.
    pub stage: u16,
}

/// A customer's place in the journey.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Stages completed in order within the window (0 to the stage count).
    pub level: u16,
    /// The furthest stage (0-based) met in any order, if any.
    pub furthest: Option<u16>,
    /// For each stage, when the customer first met its condition, in any order.
    pub first_met: Vec<Option<Millis>>,
    /// For each stage, when the in-order chain first reached it.
    pub reached_at: Vec<Option<Millis>>,
    /// For each stage after the first, the time from the previous step of the chain that
    /// first reached it (milliseconds).
    pub step_time: Vec<Option<Millis>>,
    /// The stages met in any order, as bits (stage `s` as `1 << s`).
    pub met: u64,
}

/// Places a customer from their hits. `hits` may be in any order; it is sorted here.
/// `window` is `None` for an unbounded funnel.
pub fn place(hits: &mut [Hit], stages: usize, window: Option<Millis>) -> Placement {
    hits.sort_unstable();
    let at: Vec<Millis> = hits.iter().map(|h| h.at).collect();
    let met: Vec<u64> = hits.iter().map(|h| stage_bit(h.stage)).collect();
    let mut placement = Placement::default();
    place_events(&at, &met, stages, window, &mut placement);
    placement
}

/// The bit of `stage` in a set of stages (none past 64: journeys have fewer).
fn stage_bit(stage: u16) -> u64 {
    1u64.checked_shl(u32::from(stage)).unwrap_or(0)
}

/// Places a customer from their events in time order, into `out` (reusing its buffers from
/// one customer to the next): `at[i]` is when event `i` happened, never decreasing, and
/// `met[i]` the stages (as bits, stage `s` as `1 << s`) whose condition it meets. Events
/// with equal times count as one event meeting all their stages, which is the order of
/// hits sorted by time then stage.
pub fn place_events(
    at: &[Millis],
    met: &[u64],
    stages: usize,
    window: Option<Millis>,
    out: &mut Placement,
) {
    debug_assert_eq!(at.len(), met.len());
    debug_assert!(at.is_sorted());
    let lists = [&out.first_met, &out.reached_at, &out.step_time];
    if lists.iter().all(|list| list.len() == stages) {
        // Only what the previous customer set is reset: the stages it met, and those its
        // chain reached (the first `level`), a few of a handful per customer.
        let mut set = out.met;
        while set != 0 {
            out.first_met[set.trailing_zeros() as usize] = None;
            set &= set - 1;
        }
        let reached = usize::from(out.level).min(stages);
        out.reached_at[..reached].fill(None);
        out.step_time[..reached].fill(None);
    } else {
        for list in [&mut out.first_met, &mut out.reached_at, &mut out.step_time] {
            list.clear();
            list.resize(stages, None);
        }
    }
    let mut seen = 0u64;
    // The first event meeting the first stage: no chain starts before it.
    let mut first_start = 0;
    for (i, (&when, &m)) in at.iter().zip(met).enumerate() {
        let new = m & !seen;
        if new != 0 {
            if new & 1 != 0 {
                first_start = i;
            }
            seen |= new;
            let mut new = new;
            while new != 0 {
                out.first_met[new.trailing_zeros() as usize] = Some(when);
                new &= new - 1;
            }
        }
    }
    out.met = seen;
    out.furthest = (seen != 0).then(|| (63 - seen.leading_zeros()) as u16);
    // An ordered chain goes no further than the stages met from the first on.
    let reachable = (seen.trailing_ones() as usize).min(stages);
    if reachable == 0 {
        out.level = 0;
        return;
    }
    // Events at the same time as that first one count with it, whatever their order.
    let mut from = first_start;
    while from > 0 && at[from - 1] == at[first_start] {
        from -= 1;
    }
    let (reached_at, step_time) = (&mut out.reached_at, &mut out.step_time);
    let (at, met) = (&at[from..], &met[from..]);
    out.level = window_funnel(at, met, reachable, window, |stage, at, previous| {
        if reached_at[stage].is_none() {
            reached_at[stage] = Some(at);
            step_time[stage] = previous.map(|p| at - p);
        }
    });
}

/// The level of events in time order (see [`place_events`]) over the first `stages`
/// stages, hits on later ones left out; `on_step(stage, at, previous_step_at)` is called
/// each time a chain reaches a stage.
fn window_funnel(
    at: &[Millis],
    met: &[u64],
    stages: usize,
    window: Option<Millis>,
    mut on_step: impl FnMut(usize, Millis, Option<Millis>),
) -> u16 {
    if stages == 0 {
        return 0;
    }
    // (chain start, time of its last step) per stage; on the stack for usual journeys, as
    // this runs once per customer.
    let mut on_stack = [None; 16];
    let mut on_heap = Vec::new();
    let chains: &mut [Option<(Millis, Millis)>] = if stages <= on_stack.len() {
        &mut on_stack[..stages]
    } else {
        on_heap.resize(stages, None);
        &mut on_heap
    };
    let mut i = 0;
    while i < at.len() {
        let (when, mut hit) = (at[i], met[i]);
        i += 1;
        if hit == 0 {
            continue;
        }
        // Hits at one time are taken in stage order, whichever events they come from.
        while i < at.len() && at[i] == when {
            hit |= met[i];
            i += 1;
        }
        while hit != 0 {
            let s = hit.trailing_zeros() as usize;
            hit &= hit - 1;
            if s >= stages {
                break;
            }
            if s == 0 {
                chains[0] = Some((when, when));
                on_step(0, when, None);
                // Nothing to chain: the first stage is as far as this walk goes.
                if stages == 1 {
                    return 1;
                }
            } else if let Some((start, previous)) = chains[s - 1] {
                let within = window.is_none_or(|w| when <= start.saturating_add(w));
                if within {
                    chains[s] = Some((start, when));
                    on_step(s, when, Some(previous));
                    if s + 1 == stages {
                        return stages as u16;
                    }
                }
            }
        }
    }
    chains
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |i| i as u16 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hits(list: &[(Millis, u16)]) -> Vec<Hit> {
        list.iter().map(|&(at, stage)| Hit { at, stage }).collect()
    }

    fn level(list: &[(Millis, u16)], stages: usize, window: Option<Millis>) -> u16 {
        place(&mut hits(list), stages, window).level
    }

    #[test]
    fn in_order_within_the_window() {
        assert_eq!(level(&[(0, 0), (5, 1), (10, 2)], 3, Some(10)), 3);
        // The window is inclusive: exactly the window is in, one more is out.
        assert_eq!(level(&[(0, 0), (5, 1), (11, 2)], 3, Some(10)), 2);
        assert_eq!(level(&[(0, 0), (5, 1), (11, 2)], 3, None), 3);
    }

    #[test]
    fn later_stages_first_do_not_count_in_order() {
        let list = [(0, 2), (1, 1), (2, 0)];
        let placement = place(&mut hits(&list), 3, None);
        assert_eq!(placement.level, 1);
        assert_eq!(placement.furthest, Some(2));
    }

    #[test]
    fn a_restarted_chain_can_go_further() {
        // The first chain starts at 0 and times out; the one restarted at 5 reaches stage 3.
        assert_eq!(level(&[(0, 0), (5, 0), (10, 1), (20, 2)], 3, Some(15)), 3);
    }

    #[test]
    fn one_event_meeting_two_stages_advances_both() {
        assert_eq!(level(&[(7, 1), (7, 0)], 2, Some(0)), 2);
    }

    #[test]
    fn step_times_follow_the_chain_that_first_reached_each_stage() {
        let placement = place(&mut hits(&[(0, 0), (100, 0), (130, 1)]), 2, Some(60));
        assert_eq!(placement.reached_at, vec![Some(0), Some(130)]);
        assert_eq!(placement.step_time, vec![None, Some(30)]);
        assert_eq!(placement.first_met, vec![Some(0), Some(130)]);
    }

    fn arbitrary_hits() -> impl Strategy<Value = Vec<(Millis, u16)>> {
        proptest::collection::vec((0i64..50, 0u16..4), 0..20)
    }

    /// The level of hits, one hit at a time in (time, stage) order: the definition, kept
    /// apart from the grouped walk that [`place_events`] does.
    /// Returns the level, and per stage when a chain first reached it and the time from
    /// that chain's previous step.
    fn level_hit_by_hit(
        list: &[(Millis, u16)],
        stages: usize,
        window: Option<Millis>,
    ) -> (u16, Vec<Option<Millis>>, Vec<Option<Millis>>) {
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        // (chain start, time of its last step) per stage.
        let mut chains: Vec<Option<(Millis, Millis)>> = vec![None; stages];
        let (mut reached, mut step) = (vec![None; stages], vec![None; stages]);
        for (at, stage) in sorted {
            let s = stage as usize;
            let (start, previous) = if s == 0 {
                (at, None)
            } else if let Some((start, last)) = chains[s - 1]
                && window.is_none_or(|w| at <= start + w)
            {
                (start, Some(last))
            } else {
                continue;
            };
            chains[s] = Some((start, at));
            if reached[s].is_none() {
                reached[s] = Some(at);
                step[s] = previous.map(|p| at - p);
            }
        }
        let level = chains
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i as u16 + 1);
        (level, reached, step)
    }

    proptest! {
        /// Events sharing a time, each meeting several stages, are placed as their hits
        /// taken one by one in (time, stage) order.
        #[test]
        fn events_in_time_order_are_placed_as_their_hits(
            events in proptest::collection::vec((0i64..4, 0u64..16), 0..24),
            window in proptest::option::of(0i64..6),
        ) {
            let mut at: Vec<Millis> = Vec::new();
            let mut time = 0;
            for &(step, _) in &events {
                time += step;
                at.push(time);
            }
            let met: Vec<u64> = events.iter().map(|&(_, m)| m).collect();
            let hits: Vec<(Millis, u16)> = at
                .iter()
                .zip(&met)
                .flat_map(|(&t, &m)| (0..4u16).filter(move |s| m & (1 << s) != 0).map(move |s| (t, s)))
                .collect();
            let mut placement = Placement::default();
            place_events(&at, &met, 4, window, &mut placement);
            let (level, reached, step) = level_hit_by_hit(&hits, 4, window);
            prop_assert_eq!(placement.level, level);
            prop_assert_eq!(&placement.reached_at, &reached);
            prop_assert_eq!(&placement.step_time, &step);
            let furthest = hits.iter().map(|h| h.1).max();
            prop_assert_eq!(placement.furthest, furthest);
            for s in 0..4u16 {
                let first = hits.iter().filter(|h| h.1 == s).map(|h| h.0).min();
                prop_assert_eq!(placement.first_met[s as usize], first);
            }
        }

        /// One placement reused from customer to customer (as a pass does) holds what a
        /// fresh one does for each, whatever the customers before.
        #[test]
        fn a_placement_reused_across_customers_is_a_fresh_placement(
            customers in proptest::collection::vec(
                (proptest::collection::vec((0i64..4, 0u64..32), 0..12), 3usize..6),
                1..6,
            ),
            window in proptest::option::of(0i64..6),
        ) {
            let mut reused = Placement::default();
            for (events, stages) in &customers {
                let mut at = Vec::new();
                let mut time = 0;
                for &(step, _) in events {
                    time += step;
                    at.push(time);
                }
                // Stages past the customer's journey are never met.
                let met: Vec<u64> = events.iter().map(|&(_, m)| m & ((1 << stages) - 1)).collect();
                let mut fresh = Placement::default();
                place_events(&at, &met, *stages, window, &mut fresh);
                place_events(&at, &met, *stages, window, &mut reused);
                prop_assert_eq!(&reused, &fresh);
            }
        }

        #[test]
        fn levels_never_exceed_the_stage_count(list in arbitrary_hits(), window in 0i64..30) {
            prop_assert!(level(&list, 4, Some(window)) <= 4);
        }

        #[test]
        fn adding_a_hit_never_lowers_a_level(
            list in arbitrary_hits(),
            extra in (0i64..50, 0u16..4),
            window in proptest::option::of(0i64..30),
        ) {
            let before = level(&list, 4, window);
            let mut more = list.clone();
            more.push(extra);
            prop_assert!(level(&more, 4, window) >= before);
        }

        #[test]
        fn input_order_never_changes_the_placement(
            list in arbitrary_hits(),
            window in proptest::option::of(0i64..30),
            seed in any::<u64>(),
        ) {
            let mut shuffled = list.clone();
            // A deterministic shuffle from the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(
                place(&mut hits(&list), 4, window),
                place(&mut hits(&shuffled), 4, window)
            );
        }
    }
}
