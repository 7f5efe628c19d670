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
}

/// Places a customer from their hits. `hits` may be in any order; it is sorted here.
/// `window` is `None` for an unbounded funnel.
pub fn place(hits: &mut [Hit], stages: usize, window: Option<Millis>) -> Placement {
    let mut placement = Placement {
        level: 0,
        furthest: None,
        first_met: Vec::new(),
        reached_at: Vec::new(),
        step_time: Vec::new(),
    };
    place_into(hits, stages, window, &mut placement);
    placement
}

/// [`place`] into `out`, reusing its buffers (one customer after another).
pub fn place_into(hits: &mut [Hit], stages: usize, window: Option<Millis>, out: &mut Placement) {
    hits.sort_unstable();
    for list in [&mut out.first_met, &mut out.reached_at, &mut out.step_time] {
        list.clear();
        list.resize(stages, None);
    }
    let mut furthest = None;
    for hit in hits.iter() {
        let s = hit.stage as usize;
        if out.first_met[s].is_none() {
            out.first_met[s] = Some(hit.at);
        }
        furthest = furthest.max(Some(hit.stage));
    }
    out.furthest = furthest;
    let (reached_at, step_time) = (&mut out.reached_at, &mut out.step_time);
    out.level = window_funnel(hits, stages, window, |stage, at, previous| {
        if reached_at[stage].is_none() {
            reached_at[stage] = Some(at);
            step_time[stage] = previous.map(|p| at - p);
        }
    });
}

/// The level of sorted hits; `on_step(stage, at, previous_step_at)` is called each time a
/// chain reaches a stage.
fn window_funnel(
    hits: &[Hit],
    stages: usize,
    window: Option<Millis>,
    mut on_step: impl FnMut(usize, Millis, Option<Millis>),
) -> u16 {
    if hits.is_empty() || stages == 0 {
        return 0;
    }
    // Per stage, the chain that reached it: (chain start, time of this step).
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
    for hit in hits {
        let s = hit.stage as usize;
        if s == 0 {
            chains[0] = Some((hit.at, hit.at));
            on_step(0, hit.at, None);
        } else if let Some((start, previous)) = chains[s - 1] {
            let within = window.is_none_or(|w| hit.at <= start.saturating_add(w));
            if within {
                chains[s] = Some((start, hit.at));
                on_step(s, hit.at, Some(previous));
                if s + 1 == stages {
                    return stages as u16;
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

    proptest! {
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
