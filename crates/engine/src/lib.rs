//! Measuring a journey on stored events.
//!
//! This crate owns the analysis: conditions compiled for evaluation ([`cond`]), each
//! customer's place in the journey — the ordered funnel level exactly as ClickHouse's
//! `windowFunnel` computes it, the furthest stage met in any order, when each stage was
//! reached ([`funnel`]) — and the journey results built from them. It reads the store
//! through `parcours-store` and never writes it.

pub mod analyze;
pub mod breakdown;
pub mod calendar;
pub mod cond;
pub mod funnel;
pub mod kpi;
pub mod opportunity;
mod pass;
pub mod paths;
pub mod report;
pub mod stats;
mod tally;
mod walk;

/// The hash map of the analysis: keys are small numbers and short ids, hashed millions of
/// times per run, where SipHash's protection against crafted keys buys nothing.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
