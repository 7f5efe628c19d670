//! `parcours store stats` and `parcours store compact`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use parcours_events::format_timestamp;
use parcours_store::Store;

use crate::cli::OutputFormat;
use crate::output::{bytes, number, print_json};

pub fn stats(data: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let stats = parcours_store::stats(data)
        .with_context(|| format!("cannot read the store in {}", data.display()))?;
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "data": data.display().to_string(),
            "stats": stats,
            "first_event_at": stats.first_event.map(format_timestamp),
            "last_event_at": stats.last_event.map(format_timestamp),
        }))?,
        OutputFormat::Text => {
            println!("store        {}", data.display());
            println!("events       {}", number(stats.events));
            println!(
                "customers    {} ({} identified; {} ids merged into others)",
                number(stats.customers),
                number(stats.identified_customers),
                number(stats.merged_ids)
            );
            println!(
                "segments     {} ({})",
                number(stats.segments),
                bytes(stats.event_bytes)
            );
            println!("size on disk {}", bytes(stats.total_bytes));
            match (stats.first_event, stats.last_event) {
                (Some(first), Some(last)) => println!(
                    "date range   {} → {}",
                    format_timestamp(first),
                    format_timestamp(last)
                ),
                _ => println!("date range   (no events)"),
            }
            println!("imports      {}", number(stats.imports));
            println!("event names  {}", number(stats.event_names));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn compact(data: &Path, segment_rows: usize, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(data)
        .with_context(|| format!("cannot open the store in {}", data.display()))?;
    let started = std::time::Instant::now();
    let summary = store.compact(segment_rows.max(1))?;
    match format {
        OutputFormat::Json => print_json(&serde_json::to_value(&summary)?)?,
        OutputFormat::Text => {
            println!(
                "compacted {} events from {} segments into {} in {:.1} s",
                number(summary.events_before),
                number(summary.segments_before),
                number(summary.segments_after),
                started.elapsed().as_secs_f64()
            );
            println!(
                "  {} events moved to the customer they were merged into · {} duplicates removed",
                number(summary.remapped),
                number(summary.duplicates_removed)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
