//! Touchpoint paths: how customers move from touchpoint to touchpoint.
//!
//! A customer's path is the sequence of touchpoints of their events, repeats collapsed
//! (`site, site, panier` is `site → panier`). Transitions count every consecutive pair;
//! flows count the first [`FLOW_STEPS`] steps by position, for a Sankey diagram; a loop is
//! a back-and-forth `A → B → A → B` somewhere in the path.

use crate::HashMap;

use serde::Serialize;

use crate::pass::{add, merge_maps};

/// Steps of a path drawn in the Sankey diagram.
pub const FLOW_STEPS: usize = 5;

/// Path counts over all customers. Journeys have tens of touchpoints, so pairs of them
/// index tables rather than hash maps (counted for every event of every customer).
#[derive(Clone, Debug)]
pub(crate) struct PathCounts {
    touchpoints: usize,
    /// Per (from, to): transitions.
    transitions: Vec<u64>,
    /// Per (step, from, to): customers; step 0 goes from the first touchpoint to the second.
    flows: Vec<u64>,
    /// Customers whose path starts with each touchpoint.
    starts: Vec<u64>,
    /// Per unordered pair of touchpoints: customers looping on it, by funnel level.
    pub loops: HashMap<(u16, u16), Vec<u64>>,
}

impl PathCounts {
    /// No path yet, among `touchpoints` touchpoints.
    pub fn new(touchpoints: usize) -> PathCounts {
        PathCounts {
            touchpoints,
            transitions: vec![0; touchpoints * touchpoints],
            flows: vec![0; FLOW_STEPS * touchpoints * touchpoints],
            starts: vec![0; touchpoints],
            loops: HashMap::default(),
        }
    }

    fn pair(&self, from: u16, to: u16) -> usize {
        from as usize * self.touchpoints + to as usize
    }

    /// Transitions from `from` to `to`.
    #[cfg(test)]
    fn transition(&self, from: u16, to: u16) -> u64 {
        self.transitions[self.pair(from, to)]
    }

    /// Customers going from `from` to `to` at step `step` (0: first to second touchpoint).
    #[cfg(test)]
    fn flow(&self, step: u8, from: u16, to: u16) -> u64 {
        self.flows[step as usize * self.touchpoints * self.touchpoints + self.pair(from, to)]
    }

    /// The (from, to) pairs of a table's nonzero counts, with the count.
    fn nonzero(&self, table: &[u64]) -> impl Iterator<Item = (usize, u16, u16, u64)> {
        let t = self.touchpoints.max(1);
        table
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(move |(i, &n)| {
                let pair = i % (t * t);
                (i / (t * t), (pair / t) as u16, (pair % t) as u16, n)
            })
    }

    /// Adds the counts of other customers.
    pub fn merge(&mut self, other: PathCounts) {
        add(&mut self.transitions, &other.transitions);
        add(&mut self.flows, &other.flows);
        add(&mut self.starts, &other.starts);
        merge_maps(&mut self.loops, other.loops, |mine, levels| {
            add(mine, &levels)
        });
    }

    /// Adds one customer's collapsed path; `level` is their funnel level.
    pub fn add(&mut self, path: &[u16], level: u16, stages: usize) {
        if let Some(&first) = path.first() {
            self.starts[first as usize] += 1;
        }
        let square = self.touchpoints * self.touchpoints;
        for (step, pair) in path.windows(2).enumerate() {
            let at = self.pair(pair[0], pair[1]);
            self.transitions[at] += 1;
            if step + 1 < FLOW_STEPS {
                self.flows[step * square + at] += 1;
            }
        }
        let mut looped: Vec<(u16, u16)> = Vec::new();
        for w in path.windows(4) {
            if w[0] == w[2] && w[1] == w[3] {
                let pair = (w[0].min(w[1]), w[0].max(w[1]));
                if !looped.contains(&pair) {
                    looped.push(pair);
                }
            }
        }
        for pair in looped {
            let levels = self
                .loops
                .entry(pair)
                .or_insert_with(|| vec![0; stages + 1]);
            levels[level as usize] += 1;
        }
    }
}

/// Collapses repeats: the path of a customer's event touchpoints.
pub(crate) fn collapse(touchpoints: impl Iterator<Item = Option<u16>>, out: &mut Vec<u16>) {
    out.clear();
    for tp in touchpoints.flatten() {
        if out.last() != Some(&tp) {
            out.push(tp);
        }
    }
}

/// Customers moving from one touchpoint to another.
#[derive(Clone, Debug, Serialize)]
pub struct Transition {
    /// Touchpoint id left.
    pub from: String,
    /// Touchpoint id reached.
    pub to: String,
    /// How many times (a customer may count more than once).
    pub count: u64,
}

/// One link of the Sankey diagram.
#[derive(Clone, Debug, Serialize)]
pub struct Flow {
    /// Position of `from` in the path, from 1.
    pub step: u8,
    /// Touchpoint id at `step`.
    pub from: String,
    /// Touchpoint id at `step + 1`.
    pub to: String,
    /// Customers.
    pub customers: u64,
}

/// A touchpoint and how many customers.
#[derive(Clone, Debug, Serialize)]
pub struct TouchpointCount {
    /// Touchpoint id.
    pub touchpoint: String,
    /// Customers.
    pub customers: u64,
}

/// Touchpoint paths in the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Paths {
    /// Where paths start.
    pub starts: Vec<TouchpointCount>,
    /// Every touchpoint-to-touchpoint transition, most frequent first.
    pub transitions: Vec<Transition>,
    /// The first steps of paths by position, for a Sankey diagram.
    pub flows: Vec<Flow>,
}

impl PathCounts {
    /// The report's view; `flows` keeps links of at least `min_flow` customers.
    pub fn to_paths(&self, ids: &[String], min_flow: u64) -> Paths {
        let id = |t: u16| ids[t as usize].clone();
        let mut starts: Vec<TouchpointCount> = self
            .starts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(t, &n)| TouchpointCount {
                touchpoint: id(t as u16),
                customers: n,
            })
            .collect();
        starts.sort_by(|a, b| {
            b.customers
                .cmp(&a.customers)
                .then(a.touchpoint.cmp(&b.touchpoint))
        });
        let mut transitions: Vec<Transition> = self
            .nonzero(&self.transitions)
            .map(|(_, f, t, n)| Transition {
                from: id(f),
                to: id(t),
                count: n,
            })
            .collect();
        transitions.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
        });
        let mut flows: Vec<Flow> = self
            .nonzero(&self.flows)
            .filter(|(_, _, _, n)| *n >= min_flow)
            .map(|(s, f, t, n)| Flow {
                step: s as u8 + 1,
                from: id(f),
                to: id(t),
                customers: n,
            })
            .collect();
        flows.sort_by(|a, b| {
            (a.step, std::cmp::Reverse(a.customers), &a.from, &a.to).cmp(&(
                b.step,
                std::cmp::Reverse(b.customers),
                &b.from,
                &b.to,
            ))
        });
        Paths {
            starts,
            transitions,
            flows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_collapse_and_loops_count_once() {
        let mut path = Vec::new();
        collapse(
            [
                Some(1),
                Some(1),
                None,
                Some(2),
                Some(1),
                Some(2),
                Some(1),
                Some(3),
            ]
            .into_iter(),
            &mut path,
        );
        assert_eq!(path, [1, 2, 1, 2, 1, 3]);
        let mut counts = PathCounts::new(4);
        counts.add(&path, 2, 3);
        assert_eq!(counts.transition(1, 2), 2);
        assert_eq!(counts.transition(2, 1), 2);
        assert_eq!(counts.transition(1, 3), 1);
        assert_eq!(counts.transition(3, 1), 0);
        assert_eq!(counts.loops[&(1, 2)], vec![0, 0, 1, 0]);
        assert_eq!(counts.loops.len(), 1);
        assert_eq!(counts.flow(0, 1, 2), 1);
        assert_eq!(counts.flow(4, 1, 3), 0);
        assert_eq!(counts.nonzero(&counts.flows).count(), 4);
        let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).into();
        let paths = counts.to_paths(&ids, 1);
        assert_eq!(paths.starts.len(), 1);
        assert_eq!(paths.starts[0].touchpoint, "b");
        let flows: Vec<(u8, &str, &str)> = paths
            .flows
            .iter()
            .map(|f| (f.step, f.from.as_str(), f.to.as_str()))
            .collect();
        assert_eq!(
            flows,
            [(1, "b", "c"), (2, "c", "b"), (3, "b", "c"), (4, "c", "b")]
        );
        assert_eq!(paths.transitions[0].count, 2);
        assert_eq!(paths.transitions.len(), 3);
    }

    #[test]
    fn one_back_and_forth_is_not_a_loop() {
        let mut counts = PathCounts::new(4);
        counts.add(&[1, 2, 1, 3], 1, 2);
        assert!(counts.loops.is_empty());
    }
}
