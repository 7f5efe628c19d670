//! Opportunities: where the journey loses customers, found by statistical tests on the
//! counts of the pass over customers. `docs/opportunities.md` is the method's reference.

use parcours_journey::Direction;

use crate::analyze::Model;
use crate::breakdown::{NONE, OTHER};
use crate::kpi::{Cell, Plan};
use crate::pass::{Gathered, TroubleCounts};
use crate::report::{BreakdownValue, Opportunity, OpportunityKind, Period, StageResult};
use crate::stats::{Moments, Proportion, two_proportion_z, welch_z, z_critical};
use crate::tally::Cohorts;

/// Family-wise error rate of each kind of test (Bonferroni-corrected by the tests run).
pub const ALPHA: f64 = 0.01;
/// Smallest sample on each side of a comparison.
pub const MIN_SAMPLE: f64 = 30.0;
/// Smallest relative fall of a conversion worth reporting.
pub const MIN_CONVERSION_FALL: f64 = 0.10;
/// Smallest relative gap of a group against the rest.
pub const MIN_GROUP_GAP: f64 = 0.15;
/// Smallest lift of an exit touchpoint or an error spike.
pub const MIN_LIFT: f64 = 1.5;
/// A week joins a candidate period when its own z passes this (the period is then tested
/// as a whole, at the corrected level).
pub const CANDIDATE_Z: f64 = 2.0;
/// Customers with an error-like event the reference weeks must hold before a spike can be
/// measured against them.
pub const MIN_REFERENCE_EVENTS: f64 = 5.0;
/// Weeks of reference needed before a week can be compared.
pub const MIN_BASELINE_WEEKS: usize = 2;
/// Weeks of reference at most: the last unflagged weeks before the one compared, so that a
/// slow trend is not taken for a sudden change.
pub const BASELINE_WEEKS: usize = 4;

/// Everything found, most customers at stake first.
pub(crate) fn find(
    model: &Model<'_>,
    gathered: &Gathered,
    stages: &[StageResult],
) -> Vec<Opportunity> {
    let mut found = Vec::new();
    drop_offs(model, stages, &mut found);
    conversion_drops(model, gathered, &mut found);
    exit_touchpoints(model, gathered, &mut found);
    loops(model, gathered, &mut found);
    error_spikes(model, gathered, &mut found);
    breakdown_gaps(model, gathered, &mut found);
    kpi_drops(model, gathered, &mut found);
    found.sort_by(|a, b| {
        b.lost_customers
            .cmp(&a.lost_customers)
            .then(b.z.abs().total_cmp(&a.z.abs()))
    });
    found
}

/// Summaries are written in the journey's language.
fn french(model: &Model<'_>) -> bool {
    model.journey.lang == parcours_journey::Lang::Fr
}

/// A rate as a whole percentage, written for the journey's language.
fn percent_in(fr: bool, rate: f64) -> String {
    if fr {
        format!("{:.0}\u{a0}%", rate * 100.0)
    } else {
        format!("{:.0}%", rate * 100.0)
    }
}

/// A number with one decimal, written for the journey's language.
fn decimal_in(fr: bool, value: f64) -> String {
    let text = format!("{value:.1}");
    if fr { text.replace('.', ",") } else { text }
}

fn stage_name<'a>(model: &'a Model<'_>, s: usize) -> &'a str {
    &model.journey.stages[s].name
}

fn touchpoint_name<'a>(model: &'a Model<'_>, tp: usize) -> &'a str {
    &model.journey.touchpoints[tp].name
}

fn period(gathered: &Gathered, first: usize, last: usize) -> Period {
    Period {
        from: Some(gathered.calendar.monday(first)),
        to: Some(gathered.calendar.sunday(last)),
    }
}

/// A stage whose step conversion misses its `conversion_rate` target, or without one,
/// falls well below the journey's typical step.
fn drop_offs(model: &Model<'_>, stages: &[StageResult], found: &mut Vec<Opportunity>) {
    let n = stages.len();
    if n < 2 {
        return;
    }
    let z_crit = z_critical(ALPHA / (n - 1) as f64);
    let mut steps: Vec<f64> = (1..n).filter_map(|s| stages[s].conversion).collect();
    steps.sort_by(f64::total_cmp);
    let typical = steps.get(steps.len() / 2).copied();
    for s in 1..n {
        let trials = stages[s - 1].reached as f64;
        let Some(rate) = stages[s].conversion else {
            continue;
        };
        if trials < MIN_SAMPLE {
            continue;
        }
        let target = stages[s]
            .kpis
            .iter()
            .find(|k| k.builtin == Some("conversion_rate"))
            .and_then(|k| k.target);
        let fr = french(model);
        let (expected, against) = match (target, typical, fr) {
            (Some(t), _, false) => (t, "its target"),
            (Some(t), _, true) => (t, "son objectif"),
            (None, Some(t), false) => (t, "the journey's typical step"),
            (None, Some(t), true) => (t, "une étape habituelle du parcours"),
            _ => continue,
        };
        let percent = |rate| percent_in(fr, rate);
        if expected <= 0.0 || expected >= 1.0 || rate >= expected * (1.0 - MIN_CONVERSION_FALL) {
            continue;
        }
        let z = (rate - expected) / (expected * (1.0 - expected) / trials).sqrt();
        if z > -z_crit {
            continue;
        }
        let lost = ((expected - rate) * trials).round() as u64;
        found.push(Opportunity {
            kind: OpportunityKind::DropOff,
            stage: model.stage_ids[s - 1].clone(),
            touchpoint: None,
            breakdown: None,
            period: None,
            lost_customers: lost,
            kpi: None,
            event: None,
            lift: None,
            observed: rate,
            expected,
            z,
            summary: {
                let rate = percent(rate);
                let from = stage_name(model, s - 1);
                let to = stage_name(model, s);
                let expected = percent(expected);
                if fr {
                    format!("Seuls {rate} des clients à l’étape {from} passent à {to}, contre {expected} pour {against}\u{a0}: à ce taux, environ {lost} clients de plus continueraient.")
                } else {
                    format!("Only {rate} of customers at {from} move on to {to}, against {expected} for {against}: about {lost} more customers would continue at that rate.")
                }
            },
        });
    }
}

/// A run of consecutive weeks that departs from the weeks before it.
struct Run {
    first: usize,
    last: usize,
    observed: f64,
    expected: f64,
    z: f64,
    /// Sum over the run of the excess (or shortfall) against the reference.
    excess: f64,
    /// The weeks of the reference.
    reference: Vec<usize>,
}

/// Weekly proportions compared with the unflagged weeks before them: weeks departing in the
/// `worse` direction by `CANDIDATE_Z` join a candidate run; a run is kept when its pooled
/// proportion passes `z_crit` against its reference and differs by at least `min_change`
/// (relative).
fn weekly_runs(
    weeks: &[Option<Proportion>],
    worse_is_lower: bool,
    z_crit: f64,
    min_change: f64,
) -> Vec<Run> {
    weekly_runs_from(weeks, worse_is_lower, z_crit, min_change, 0.0)
}

/// [`weekly_runs`], comparing only against references holding at least `min_reference_hits`
/// successes (a rate of rare events is unknown before that).
fn weekly_runs_from(
    weeks: &[Option<Proportion>],
    worse_is_lower: bool,
    z_crit: f64,
    min_change: f64,
    min_reference_hits: f64,
) -> Vec<Run> {
    let sign = if worse_is_lower { -1.0 } else { 1.0 };
    let mut runs = Vec::new();
    let mut reference: Vec<usize> = Vec::new();
    let worse = |p: Proportion, base: Proportion| {
        base.trials >= MIN_SAMPLE
            && p.trials >= MIN_SAMPLE
            && base.hits >= min_reference_hits
            && sign * two_proportion_z(p, base) >= CANDIDATE_Z
    };
    let mut w = 0;
    while w < weeks.len() {
        let Some(week) = weeks[w] else {
            w += 1;
            continue;
        };
        let recent: Vec<usize> = reference
            .iter()
            .rev()
            .take(BASELINE_WEEKS)
            .copied()
            .collect();
        let baseline = recent.iter().fold(Proportion::default(), |a, &r| {
            a.plus(weeks[r].unwrap_or_default())
        });
        if reference.len() < MIN_BASELINE_WEEKS || !worse(week, baseline) {
            reference.push(w);
            w += 1;
            continue;
        }
        // Extend the run while weeks stay worse than the reference.
        let first = w;
        let mut pooled = Proportion::default();
        let mut excess = 0.0;
        while w < weeks.len() {
            match weeks[w] {
                Some(p) if worse(p, baseline) => {
                    pooled = pooled.plus(p);
                    excess += p.hits - baseline.rate() * p.trials;
                    w += 1;
                }
                _ => break,
            }
        }
        let z = two_proportion_z(pooled, baseline);
        let (observed, expected) = (pooled.rate(), baseline.rate());
        let change = if expected > 0.0 {
            (observed - expected).abs() / expected
        } else {
            f64::INFINITY
        };
        if sign * z >= z_crit && change >= min_change {
            runs.push(Run {
                first,
                last: w - 1,
                observed,
                expected,
                z,
                excess,
                reference: recent,
            });
        }
    }
    runs
}

/// The delay bucket within which a quarter of the conversions to stage `s` happen: weekly
/// conversions are counted within it, so recent weeks are comparable with older ones.
fn horizon(cohorts: &Cohorts, s: usize) -> usize {
    let total: u64 = (0..cohorts.weeks)
        .map(|w| cohorts.converted(s, w, Cohorts::ANY_DELAY))
        .sum();
    (0..=Cohorts::ANY_DELAY)
        .find(|&b| {
            let within: u64 = (0..cohorts.weeks).map(|w| cohorts.converted(s, w, b)).sum();
            within * 4 >= total
        })
        .unwrap_or(Cohorts::ANY_DELAY)
}

/// Weekly cohort conversions to stage `s` within the horizon; `None` for weeks whose
/// customers have not had the horizon's time yet.
fn weekly_conversions(
    gathered: &Gathered,
    cohorts: &Cohorts,
    s: usize,
    bucket: usize,
) -> Vec<Option<Proportion>> {
    let bound = Cohorts::bucket_bound(bucket);
    (0..cohorts.weeks)
        .map(|w| {
            let complete =
                bound.is_some_and(|b| gathered.calendar.end(w).saturating_add(b) <= gathered.now);
            complete.then(|| Proportion {
                hits: cohorts.converted(s, w, bucket) as f64,
                trials: cohorts.entered(s, w) as f64,
            })
        })
        .collect()
}

fn conversion_drops(model: &Model<'_>, gathered: &Gathered, found: &mut Vec<Opportunity>) {
    let cohorts = &gathered.cohorts;
    let tests = (1..cohorts.stages).count() * cohorts.weeks;
    if tests == 0 {
        return;
    }
    let z_crit = z_critical(ALPHA / tests as f64);
    let fr = french(model);
    let percent = |rate| percent_in(fr, rate);
    for s in 1..cohorts.stages {
        let bucket = horizon(cohorts, s);
        let weeks = weekly_conversions(gathered, cohorts, s, bucket);
        for run in weekly_runs(&weeks, true, z_crit, MIN_CONVERSION_FALL) {
            let lost = (-run.excess).max(0.0).round() as u64;
            let period = period(gathered, run.first, run.last);
            found.push(Opportunity {
                kind: OpportunityKind::ConversionDrop,
                stage: model.stage_ids[s - 1].clone(),
                touchpoint: None,
                breakdown: None,
                lost_customers: lost,
                kpi: None,
                event: None,
                lift: None,
                observed: run.observed,
                expected: run.expected,
                z: run.z,
                summary: {
                    let from = stage_name(model, s - 1);
                    let start = period.from.as_deref().unwrap_or_default();
                    let end = period.to.as_deref().unwrap_or_default();
                    let to = stage_name(model, s);
                    let observed = percent(run.observed);
                    let expected = percent(run.expected);
                    let within = horizon_text(bucket, fr);
                    if fr {
                        format!("Les clients arrivés à l’étape {from} entre le {start} et le {end} sont passés à {to} à {observed} au lieu de {expected} (sous {within})\u{a0}: environ {lost} clients perdus\u{a0}; cherchez ce qui a changé à ce moment-là.")
                    } else {
                        format!("Customers who reached {from} between {start} and {end} moved on to {to} at {observed} instead of {expected} (within {within}): about {lost} customers lost; look at what changed then.")
                    }
                },
                period: Some(period),
            });
        }
    }
}

fn horizon_text(bucket: usize, fr: bool) -> String {
    match (Cohorts::bucket_bound(bucket), fr) {
        (Some(ms), false) if ms >= 86_400_000 => format!("{} days", ms / 86_400_000),
        (Some(ms), true) if ms >= 86_400_000 => format!("{}\u{a0}jours", ms / 86_400_000),
        (Some(ms), _) if ms >= 3_600_000 => format!("{}\u{a0}h", ms / 3_600_000),
        (Some(ms), _) => format!("{}\u{a0}min", ms / 60_000),
        (None, false) => "any time".to_string(),
        (None, true) => "n’importe quel délai".to_string(),
    }
}

/// Touchpoints after which customers of a stage leave more often than the stage's customers
/// as a whole: the share of a touchpoint's users (while in the stage) who left with it as
/// their last touchpoint, against the stage's overall rate of leaving (binomial test).
fn exit_touchpoints(model: &Model<'_>, gathered: &Gathered, found: &mut Vec<Opportunity>) {
    let tally = &gathered.overall;
    let stages = tally.reached.len();
    let tests = stages.saturating_sub(1) * model.touchpoint_ids.len();
    if tests == 0 {
        return;
    }
    let z_crit = z_critical(ALPHA / tests as f64);
    let fr = french(model);
    let percent = |rate| percent_in(fr, rate);
    for s in 0..stages - 1 {
        let customers = tally.reached[s] as f64;
        let leavers = (tally.reached[s] - tally.reached[s + 1]) as f64;
        if customers < MIN_SAMPLE || leavers <= 0.0 {
            continue;
        }
        let rate = leavers / customers;
        let exits = tally.exits[s].iter().enumerate().filter(|&(_, &n)| n > 0);
        for (tp, &left) in exits {
            let users = tally.visits[s][tp] as f64;
            let left = left as f64;
            if users < MIN_SAMPLE || left < 10.0 {
                continue;
            }
            let observed = left / users;
            let lift = observed / rate;
            let z = (left - users * rate) / (users * rate * (1.0 - rate)).sqrt().max(1e-9);
            if z < z_crit || lift < MIN_LIFT {
                continue;
            }
            let lost = (left - users * rate).round() as u64;
            found.push(Opportunity {
                kind: OpportunityKind::ExitTouchpoint,
                stage: model.stage_ids[s].clone(),
                touchpoint: Some(model.touchpoint_ids[tp].clone()),
                breakdown: None,
                period: None,
                lost_customers: lost,
                kpi: None,
                event: None,
                lift: Some(lift),
                observed,
                expected: rate,
                z,
                summary: {
                    let observed = percent(observed);
                    let touchpoint = touchpoint_name(model, tp);
                    let stage = stage_name(model, s);
                    let lift = decimal_in(fr, lift);
                    let rate = percent(rate);
                    if fr {
                        format!("{observed} des clients passés par {touchpoint} à l’étape {stage} ont quitté le parcours juste après, {lift}\u{a0}× le taux habituel de l’étape ({rate})\u{a0}: environ {lost} départs en trop partent de là.")
                    } else {
                        format!("{observed} of the customers who used {touchpoint} at {stage} left the journey right after it, {lift}× the stage's usual {rate}: about {lost} extra departures start there.")
                    }
                },
            });
        }
    }
}

fn loops(model: &Model<'_>, gathered: &Gathered, found: &mut Vec<Opportunity>) {
    let tally = &gathered.overall;
    let stages = tally.reached.len();
    let tests = gathered.paths.loops.len().max(1);
    let z_crit = z_critical(ALPHA / tests as f64);
    let fr = french(model);
    let percent = |rate| percent_in(fr, rate);
    for (&(a, b), levels) in &gathered.paths.loops {
        let stage = [a, b]
            .iter()
            .filter_map(|&tp| model.touchpoint_stage[tp as usize])
            .min();
        let Some(s) = stage.map(usize::from) else {
            continue;
        };
        if s + 1 >= stages {
            continue;
        }
        let reached = |from: usize| levels[from + 1..].iter().sum::<u64>() as f64;
        let looped = Proportion {
            hits: reached(s + 1),
            trials: reached(s),
        };
        let rest = Proportion {
            hits: tally.reached[s + 1] as f64 - looped.hits,
            trials: tally.reached[s] as f64 - looped.trials,
        };
        if looped.trials < MIN_SAMPLE || rest.trials < MIN_SAMPLE {
            continue;
        }
        let z = two_proportion_z(looped, rest);
        let fall = 1.0 - looped.rate() / rest.rate().max(f64::MIN_POSITIVE);
        if z > -z_crit || fall < MIN_CONVERSION_FALL {
            continue;
        }
        let lost = ((rest.rate() - looped.rate()) * looped.trials).round() as u64;
        let (na, nb) = (
            touchpoint_name(model, a as usize),
            touchpoint_name(model, b as usize),
        );
        found.push(Opportunity {
            kind: OpportunityKind::Loop,
            stage: model.stage_ids[s].clone(),
            touchpoint: Some(model.touchpoint_ids[a as usize].clone()),
            breakdown: Some(BreakdownValue {
                property: "loop".to_string(),
                value: format!(
                    "{} ↔ {}",
                    model.touchpoint_ids[a as usize], model.touchpoint_ids[b as usize]
                ),
            }),
            period: None,
            lost_customers: lost,
            kpi: None,
            event: None,
            lift: None,
            observed: looped.rate(),
            expected: rest.rate(),
            z,
            summary: {
                let customers = looped.trials as u64;
                let stage = stage_name(model, s);
                let looped_rate = percent(looped.rate());
                let rest_rate = percent(rest.rate());
                if fr {
                    format!("{customers} clients à l’étape {stage} ont fait des allers-retours entre {na} et {nb}\u{a0}; seuls {looped_rate} d’entre eux sont allés plus loin, contre {rest_rate} des autres\u{a0}: rendez ce qu’ils cherchent accessible en un seul endroit.")
                } else {
                    format!("{customers} customers at {stage} went back and forth between {na} and {nb}; only {looped_rate} of them moved on, against {rest_rate} of the others: make what they look for findable in one place.")
                }
            },
        });
    }
}

/// `field=value` texts of an event's properties: scalar texts and booleans, one level of
/// nesting, for telling what an error spike's events share.
pub(crate) fn fields(properties: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(text) = properties else {
        return out;
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return out;
    };
    let mut push = |key: String, value: &serde_json::Value| match value {
        serde_json::Value::String(s) if s.len() <= 64 => out.push(format!("{key}={s}")),
        serde_json::Value::Bool(b) => out.push(format!("{key}={b}")),
        _ => {}
    };
    for (key, value) in map.iter().take(16) {
        match value {
            serde_json::Value::Object(inner) => {
                for (k, v) in inner.iter().take(8) {
                    push(format!("{key}.{k}"), v);
                }
            }
            _ => push(key.clone(), value),
        }
    }
    out
}

fn error_spikes(model: &Model<'_>, gathered: &Gathered, found: &mut Vec<Opportunity>) {
    let weeks = gathered.calendar.len();
    let tests = (gathered.trouble.len() * weeks).max(1);
    let z_crit = z_critical(ALPHA / tests as f64);
    let fr = french(model);
    let mut codes: Vec<(&u32, &TroubleCounts)> = gathered.trouble.iter().collect();
    codes.sort_by_key(|(code, _)| **code);
    for (&code, counts) in codes {
        let series: Vec<Option<Proportion>> = (0..weeks)
            .map(|w| {
                Some(Proportion {
                    hits: counts.customers[w] as f64,
                    trials: gathered.active[w] as f64,
                })
            })
            .collect();
        let runs = weekly_runs_from(&series, false, z_crit, MIN_LIFT - 1.0, MIN_REFERENCE_EVENTS);
        for run in runs {
            let name = &model.catalog[code as usize].name;
            let lift = if run.expected > 0.0 {
                run.observed / run.expected
            } else {
                f64::INFINITY
            };
            let stage = counts
                .stages
                .iter()
                .enumerate()
                .max_by_key(|(_, n)| **n)
                .filter(|(_, n)| **n > 0)
                .map(|(s, _)| s);
            let Some(stage) = stage else { continue };
            let touchpoint = counts
                .touchpoints
                .iter()
                .max_by_key(|(tp, n)| (**n, std::cmp::Reverse(**tp)))
                .map(|(tp, _)| *tp as usize);
            // The field value most of the run's events share.
            let in_run = |per_week: &Vec<u64>| per_week[run.first..=run.last].iter().sum::<u64>();
            let run_customers: u64 = counts.customers[run.first..=run.last].iter().sum();
            let shared = counts
                .values
                .iter()
                .map(|(field, per_week)| (field, in_run(per_week)))
                .filter(|(_, n)| *n * 2 >= run_customers)
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)));
            let breakdown = shared.and_then(|(field, _)| {
                let (key, value) = field.split_once('=')?;
                Some(BreakdownValue {
                    property: format!("prop.{key}"),
                    value: value.to_string(),
                })
            });
            let affected = run.excess.max(0.0).round() as u64;
            let period = period(gathered, run.first, run.last);
            let mostly = breakdown
                .as_ref()
                .map(|b| {
                    if fr {
                        format!(", surtout avec {} = {}", b.property, b.value)
                    } else {
                        format!(", mostly with {} = {}", b.property, b.value)
                    }
                })
                .unwrap_or_default();
            let place = match (touchpoint, fr) {
                (Some(tp), false) => format!("at {}", touchpoint_name(model, tp)),
                (Some(tp), true) => format!("sur {}", touchpoint_name(model, tp)),
                (None, false) => format!("at {}", stage_name(model, stage)),
                (None, true) => format!("à l’étape {}", stage_name(model, stage)),
            };
            found.push(Opportunity {
                kind: OpportunityKind::ErrorSpike,
                stage: model.stage_ids[stage].clone(),
                touchpoint: touchpoint.map(|tp| model.touchpoint_ids[tp].clone()),
                breakdown,
                lost_customers: affected,
                kpi: None,
                event: Some(name.clone()),
                lift: Some(lift.min(1e6)),
                observed: run.observed,
                expected: run.expected,
                z: run.z,
                summary: {
                    let observed = decimal_in(fr, run.observed * 100.0);
                    let start = period.from.as_deref().unwrap_or_default();
                    let end = period.to.as_deref().unwrap_or_default();
                    let expected = decimal_in(fr, run.expected * 100.0);
                    let lift = decimal_in(fr, lift.min(99.0));
                    if fr {
                        format!("`{name}` a touché {observed}\u{a0}% des clients actifs entre le {start} et le {end} au lieu de {expected}\u{a0}% ({lift}\u{a0}×){mostly}\u{a0}: environ {affected} clients de plus concernés\u{a0}; corrigez-le {place}.")
                    } else {
                        format!("`{name}` hit {observed}% of active customers between {start} and {end} instead of {expected}% ({lift}×){mostly}: about {affected} more customers affected; fix it {place}.")
                    }
                },
                period: Some(period),
            });
        }
    }
}

/// Groups converting worse than the other customers: over the whole period, or during a
/// run of weeks (each week compared with the other customers of the same week, so that
/// what changed for everyone is not blamed on the group).
fn breakdown_gaps(model: &Model<'_>, gathered: &Gathered, found: &mut Vec<Opportunity>) {
    let overall = &gathered.cohorts;
    let stages = overall.stages;
    let tests: usize = gathered
        .gaps
        .iter()
        .map(|d| d.len() * stages.saturating_sub(1))
        .sum();
    if tests == 0 {
        return;
    }
    let z_crit = z_critical(ALPHA / tests as f64);
    let z_crit_weeks = z_critical(ALPHA / (tests * overall.weeks).max(1) as f64);
    let fr = french(model);
    let percent = |rate| percent_in(fr, rate);
    let week = |c: &Cohorts, s: usize, w: usize| Proportion {
        hits: c.converted(s, w, Cohorts::ANY_DELAY) as f64,
        trials: c.entered(s, w) as f64,
    };
    let total = |c: &Cohorts, s: usize| {
        (0..c.weeks).fold(Proportion::default(), |a, w| a.plus(week(c, s, w)))
    };
    let minus = |a: Proportion, b: Proportion| Proportion {
        hits: a.hits - b.hits,
        trials: a.trials - b.trials,
    };
    let gap_of =
        |mine: Proportion, rest: Proportion| 1.0 - mine.rate() / rest.rate().max(f64::MIN_POSITIVE);
    for dim in &gathered.gaps {
        let mut values: Vec<&String> = dim.iter().map(|(value, _)| value).collect();
        values.sort();
        for value in values {
            if value == NONE || value == OTHER {
                continue;
            }
            let group = dim.get(value).expect("listed above");
            for s in 1..stages {
                let mine = total(group, s);
                let rest = minus(total(overall, s), mine);
                let z = two_proportion_z(mine, rest);
                #[allow(clippy::type_complexity)]
                let mut found_here: Vec<(
                    Proportion,
                    Proportion,
                    f64,
                    Option<Period>,
                    Option<u64>,
                    Option<(f64, f64)>,
                )> = Vec::new();
                if z <= -z_crit && gap_of(mine, rest) >= MIN_GROUP_GAP {
                    found_here.push((mine, rest, z, None, None, None));
                } else {
                    // Weeks where the group's own conversion fell, by more than the others'.
                    let bucket = horizon(overall, s);
                    let series = weekly_conversions(gathered, group, s, bucket);
                    let all = weekly_conversions(gathered, overall, s, bucket);
                    let others = |weeks: &mut dyn Iterator<Item = usize>| {
                        weeks.fold(Proportion::default(), |a, w| {
                            a.plus(minus(
                                all[w].unwrap_or_default(),
                                series[w].unwrap_or_default(),
                            ))
                        })
                    };
                    for run in weekly_runs(&series, true, z_crit_weeks, MIN_GROUP_GAP) {
                        let rest_run = others(&mut (run.first..=run.last));
                        let rest_before = others(&mut run.reference.iter().copied());
                        if rest_run.rate() <= 0.0 || rest_before.rate() <= 0.0 {
                            continue;
                        }
                        let relative_now = run.observed / rest_run.rate();
                        let relative_before = run.expected / rest_before.rate();
                        if relative_now > relative_before * (1.0 - MIN_GROUP_GAP) {
                            continue;
                        }
                        let trials = (run.first..=run.last)
                            .map(|w| series[w].unwrap_or_default().trials)
                            .sum::<f64>();
                        let before = run.reference.iter().fold(Proportion::default(), |a, &w| {
                            a.plus(series[w].unwrap_or_default())
                        });
                        // Difference in differences: the group's fall beyond the others'.
                        let variance = |p: Proportion| {
                            if p.trials > 0.0 {
                                p.rate() * (1.0 - p.rate()) / p.trials
                            } else {
                                f64::INFINITY
                            }
                        };
                        let mine_run = Proportion {
                            hits: run.observed * trials,
                            trials,
                        };
                        let did = (mine_run.rate() - before.rate())
                            - (rest_run.rate() - rest_before.rate());
                        let error = (variance(mine_run)
                            + variance(before)
                            + variance(rest_run)
                            + variance(rest_before))
                        .sqrt();
                        if did / error > -z_crit_weeks {
                            continue;
                        }
                        found_here.push((
                            mine_run,
                            rest_run,
                            did / error,
                            Some(period(gathered, run.first, run.last)),
                            Some((-run.excess).max(0.0).round() as u64),
                            Some((before.rate(), rest_before.rate())),
                        ));
                    }
                }
                for (mine, rest, z, period, lost, before) in found_here {
                    let lost =
                        lost.unwrap_or(((rest.rate() - mine.rate()) * mine.trials).round() as u64);
                    let when = period
                        .as_ref()
                        .map(|p| {
                            format!(
                                "{} {} {} {}",
                                if fr { " entre le" } else { " between" },
                                p.from.as_deref().unwrap_or_default(),
                                if fr { "et le" } else { "and" },
                                p.to.as_deref().unwrap_or_default()
                            )
                        })
                        .unwrap_or_default();
                    found.push(Opportunity {
                        kind: OpportunityKind::BreakdownGap,
                        stage: model.stage_ids[s - 1].clone(),
                        touchpoint: None,
                        breakdown: Some(BreakdownValue {
                            property: dim.by.to_string(),
                            value: value.clone(),
                        }),
                        period,
                        lost_customers: lost,
                        kpi: None,
                        event: None,
                        lift: None,
                        observed: mine.rate(),
                        expected: rest.rate(),
                        z,
                        summary: {
                            let by = &dim.by;
                            let from = stage_name(model, s - 1);
                            let to = stage_name(model, s);
                            let rate = percent(mine.rate());
                            let others = percent(rest.rate());
                            match (before.map(|(m, r)| (percent(m), percent(r))), fr) {
                                // A fall of the group's own rate, beyond the others' during
                                // the same weeks: the group may still convert better.
                                (Some((was, others_were)), true) => format!(
                                    "Les clients avec {by} = {value} arrivés à l’étape {from}{when} sont passés à {to} à {rate}, contre {was} les semaines d’avant, quand les autres passaient de {others_were} à {others}\u{a0}: environ {lost} clients perdus\u{a0}; examinez d’abord leur expérience."
                                ),
                                (Some((was, others_were)), false) => format!(
                                    "Customers with {by} = {value} who reached {from}{when} moved on to {to} at {rate}, down from {was} the weeks before, while the others went from {others_were} to {others}: about {lost} customers lost; check their experience first."
                                ),
                                (None, true) => format!(
                                    "Les clients avec {by} = {value} arrivés à l’étape {from}{when} sont passés à {to} à {rate}, contre {others} pour les autres\u{a0}: environ {lost} clients perdus\u{a0}; examinez d’abord leur expérience."
                                ),
                                (None, false) => format!(
                                    "Customers with {by} = {value} who reached {from}{when} moved on to {to} at {rate}, against {others} for the others: about {lost} customers lost; check their experience first."
                                ),
                            }
                        },
                    });
                }
            }
        }
    }
}

/// Weekly KPI values against the weeks before, for the KPIs with a test: ratios and counts
/// (proportions) and means and NPS (Welch).
fn kpi_drops(model: &Model<'_>, gathered: &Gathered, found: &mut Vec<Opportunity>) {
    let weeks = gathered.calendar.len();
    let testable = model
        .kpis
        .iter()
        .filter(|k| {
            matches!(
                k.plan,
                Plan::EventRatio { .. }
                    | Plan::CustomerRatio { .. }
                    | Plan::Count { .. }
                    | Plan::Mean { .. }
                    | Plan::Nps { .. }
            )
        })
        .count();
    if testable == 0 || weeks == 0 {
        return;
    }
    let z_crit = z_critical(ALPHA / (testable * weeks) as f64);
    let fr = french(model);
    let percent = |rate| percent_in(fr, rate);
    for (k, compiled) in model.kpis.iter().enumerate() {
        let kpi = &model.journey.kpis[k];
        let cells: &[Cell] = &gathered.overall.kpis[k];
        let worse_is_lower = kpi.direction == Direction::Higher;
        // A condition looking ahead has not seen the future of the last week's events.
        let looks_ahead = match &compiled.plan {
            Plan::EventRatio {
                numerator,
                denominator,
            } => [numerator, denominator]
                .iter()
                .any(|&&c| model.kpi_events.conds[c].looks_ahead()),
            _ => false,
        };
        let settled = |w: usize| !(looks_ahead && w + 1 == cells.len());
        let runs: Vec<Run> = match &compiled.plan {
            Plan::EventRatio { .. } | Plan::CustomerRatio { .. } => {
                let series: Vec<Option<Proportion>> = cells
                    .iter()
                    .enumerate()
                    .map(|(w, c)| settled(w).then(|| c.proportion()))
                    .collect();
                weekly_runs(&series, worse_is_lower, z_crit, MIN_CONVERSION_FALL)
            }
            Plan::Count { .. } => {
                let series: Vec<Option<Proportion>> = cells
                    .iter()
                    .zip(&gathered.active)
                    .map(|(c, &active)| {
                        Some(Proportion {
                            hits: c.num.min(active as f64),
                            trials: active as f64,
                        })
                    })
                    .collect();
                weekly_runs(&series, worse_is_lower, z_crit, MIN_LIFT - 1.0)
            }
            Plan::Mean { .. } | Plan::Nps { .. } => {
                let series: Vec<Moments> = cells.iter().map(Cell::moments).collect();
                mean_runs(&series, worse_is_lower, z_crit)
            }
            _ => Vec::new(),
        };
        for run in runs {
            let period = period(gathered, run.first, run.last);
            let scale = if matches!(compiled.plan, Plan::Nps { .. }) {
                100.0
            } else {
                1.0
            };
            let (observed, expected) = (run.observed * scale, run.expected * scale);
            let affected = run.excess.abs().round() as u64;
            let show = |v: f64| match kpi.unit {
                parcours_journey::Unit::Percent => percent(v),
                parcours_journey::Unit::Count => format!("{v:.0}"),
                _ if fr => format!("{v:.2}").replace('.', ","),
                _ => format!("{v:.2}"),
            };
            let share = |v: f64| {
                if fr {
                    format!("{}\u{a0}%", decimal_in(fr, v * 100.0))
                } else {
                    format!("{:.1}%", v * 100.0)
                }
            };
            let (shown_observed, shown_expected) = match compiled.plan {
                Plan::Count { .. } => (share(observed), share(expected)),
                _ => (show(observed), show(expected)),
            };
            let per = match (matches!(compiled.plan, Plan::Count { .. }), fr) {
                (true, false) => " of active customers",
                (true, true) => " des clients actifs",
                _ => "",
            };
            let target_text = kpi
                .target
                .map(|t| {
                    if fr {
                        format!(" (objectif {})", show(t))
                    } else {
                        format!(" (target {})", show(t))
                    }
                })
                .unwrap_or_default();
            found.push(Opportunity {
                kind: OpportunityKind::KpiDrop,
                stage: model.stage_ids[compiled.stage].clone(),
                touchpoint: None,
                breakdown: None,
                lost_customers: affected,
                kpi: Some(kpi.id.clone()),
                event: None,
                lift: None,
                observed,
                expected,
                z: run.z,
                summary: {
                    let kpi_name = &kpi.name;
                    let start = period.from.as_deref().unwrap_or_default();
                    let end = period.to.as_deref().unwrap_or_default();
                    let target = target_text;
                    let stage = stage_name(model, compiled.stage);
                    if fr {
                        format!("{kpi_name} est passé à {shown_observed}{per} entre le {start} et le {end}, contre {shown_expected} les semaines d’avant{target}\u{a0}: environ {affected} clients ou réponses concernés à l’étape {stage}.")
                    } else {
                        format!("{kpi_name} went to {shown_observed}{per} between {start} and {end} against {shown_expected} the weeks before{target}: about {affected} customers or answers concerned at {stage}.")
                    }
                },
                period: Some(period),
            });
        }
    }
}

/// Like [`weekly_runs`], for means (Welch's test); a run must move by at least a fifth of a
/// standard deviation.
fn mean_runs(weeks: &[Moments], worse_is_lower: bool, z_crit: f64) -> Vec<Run> {
    let sign = if worse_is_lower { -1.0 } else { 1.0 };
    let mut runs = Vec::new();
    let mut reference: Vec<Moments> = Vec::new();
    let worse = |m: Moments, base: Moments| {
        m.n >= MIN_SAMPLE && base.n >= MIN_SAMPLE && sign * welch_z(m, base) >= CANDIDATE_Z
    };
    let mut w = 0;
    while w < weeks.len() {
        let baseline = reference
            .iter()
            .rev()
            .take(BASELINE_WEEKS)
            .fold(Moments::default(), |a, b| a.plus(*b));
        if reference.len() < MIN_BASELINE_WEEKS || !worse(weeks[w], baseline) {
            if weeks[w].n > 0.0 {
                reference.push(weeks[w]);
            }
            w += 1;
            continue;
        }
        let first = w;
        let mut pooled = Moments::default();
        while w < weeks.len() && worse(weeks[w], baseline) {
            pooled = pooled.plus(weeks[w]);
            w += 1;
        }
        let z = welch_z(pooled, baseline);
        let sd = baseline.variance().sqrt();
        let effect = if sd > 0.0 {
            (pooled.mean() - baseline.mean()).abs() / sd
        } else {
            0.0
        };
        if sign * z >= z_crit && effect >= 0.2 {
            runs.push(Run {
                first,
                last: w - 1,
                observed: pooled.mean(),
                expected: baseline.mean(),
                z,
                excess: pooled.n * effect.min(1.0),
                reference: Vec::new(),
            });
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weeks(rates: &[(f64, f64)]) -> Vec<Option<Proportion>> {
        rates
            .iter()
            .map(|&(hits, trials)| Some(Proportion { hits, trials }))
            .collect()
    }

    #[test]
    fn a_clear_fall_is_one_run_with_its_weeks() {
        let series = weeks(&[
            (600.0, 1000.0),
            (610.0, 1000.0),
            (590.0, 1000.0),
            (450.0, 1000.0),
            (440.0, 1000.0),
            (605.0, 1000.0),
        ]);
        let runs = weekly_runs(&series, true, 4.0, 0.1);
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].first, runs[0].last), (3, 4));
        assert!((runs[0].expected - 0.6).abs() < 1e-9);
        assert!((runs[0].excess + 310.0).abs() < 1e-6, "{}", runs[0].excess);
    }

    #[test]
    fn noise_on_small_samples_is_not_flagged() {
        // 6/20 against 12/20: a big swing, but 20 customers a week prove nothing.
        let series = weeks(&[(12.0, 20.0), (11.0, 20.0), (13.0, 20.0), (6.0, 20.0)]);
        assert!(weekly_runs(&series, true, 3.0, 0.1).is_empty());
        let series = weeks(&[(12.0, 40.0), (11.0, 40.0), (13.0, 40.0), (8.0, 40.0)]);
        assert!(weekly_runs(&series, true, 3.0, 0.1).is_empty());
    }

    #[test]
    fn a_rise_counts_only_when_rising_is_worse() {
        let series = weeks(&[
            (10.0, 1000.0),
            (12.0, 1000.0),
            (11.0, 1000.0),
            (80.0, 1000.0),
        ]);
        assert!(weekly_runs(&series, true, 3.0, 0.5).is_empty());
        let runs = weekly_runs(&series, false, 3.0, 0.5);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].first, 3);
    }

    #[test]
    fn fields_of_properties() {
        assert_eq!(
            fields(Some(
                r#"{"code":"3DS_TIMEOUT","step":"payment","total":12,"card":{"brand":"visa"}}"#
            )),
            ["card.brand=visa", "code=3DS_TIMEOUT", "step=payment"]
        );
        assert!(fields(Some("not json")).is_empty());
    }
}
