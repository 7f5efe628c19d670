//! `parcours serve`: what the server owns. The durable event log that a tracking request
//! is acknowledged from ([`log`]); next, the Segment-compatible tracking API, the Mailjet
//! webhook, the log's compaction into the store, the JSON API and the web UI.

pub mod log;

pub use log::{EventLog, LogError, Recovery};
