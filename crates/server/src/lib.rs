//! `parcours serve`: what the server owns. The durable event log a tracking request is
//! acknowledged from ([`log`]), the records it holds ([`record`]), the Segment-compatible
//! tracking API ([`tracking`]), the Mailjet webhook ([`webhooks`]), the log's compaction into
//! the store ([`compact`]), the read API over analyses run in the background ([`read_api`]),
//! health and metrics ([`ops`]), the web UI ([`web`]) and the running server ([`serve`]).

pub mod compact;
pub mod customers;
mod http;
pub mod log;
pub mod ops;
pub mod read_api;
pub mod record;
pub mod serve;
pub mod tracking;
pub mod web;
pub mod webhooks;

pub use http::KeySet;
pub use log::{EventLog, LogError, Recovery};
pub use serve::{ServeError, ServeOptions, serve};
