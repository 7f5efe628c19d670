//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Parcours: one journey file that is the map, the measurement and the email plan.
#[derive(Debug, Parser)]
#[command(name = "parcours", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How a command prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// For scripts: one JSON document on standard output.
    Json,
}

/// How `parcours serve` logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How `parcours analyze` writes its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned tables for the terminal.
    #[default]
    #[value(alias = "text")]
    Table,
    /// JSON (docs/report-schema.md).
    Json,
    /// One self-contained HTML page: map with live numbers, charts, opportunities.
    Html,
}

/// How rows are exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RowFormat {
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Json,
    /// A Parquet file (needs `-o FILE`), timestamps as UTC milliseconds.
    Parquet,
}

/// Where the store lives.
#[derive(Debug, clap::Args)]
pub struct DataDir {
    /// Data directory of the embedded store.
    #[arg(long = "data", env = "PARCOURS_DATA", default_value = "parcours-data")]
    pub path: PathBuf,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a journey file and report every problem with its line and column.
    Validate {
        /// The journey file.
        #[arg(default_value = "journey.toml")]
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Start a journey from a built-in template (writes journey.toml and its email templates).
    Init {
        /// Template to start from (see --list).
        #[arg(long, short, default_value = "digital")]
        template: String,
        /// Directory to write into.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
        /// List the templates instead.
        #[arg(long)]
        list: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Draw the journey map as SVG or self-contained HTML (chosen by the output's extension).
    Map {
        /// The journey file.
        #[arg(default_value = "journey.toml", conflicts_with = "template")]
        file: PathBuf,
        /// Draw a built-in template instead of a file.
        #[arg(long, short)]
        template: Option<String>,
        /// Output file: .svg or .html.
        #[arg(long, short, default_value = "map.html")]
        output: PathBuf,
        /// Output format of the command's own report.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Import event files into the store: Segment NDJSON/JSON, Mailjet webhooks, CSV, Parquet (.gz too).
    Ingest {
        /// Files to import; each is imported entirely or not at all.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The store.
        #[command(flatten)]
        data: DataDir,
        /// Input format, when it cannot be told from the name and content.
        #[arg(long, value_parser = ["ndjson", "json", "mailjet", "csv", "tsv", "parquet"])]
        format: Option<String>,
        /// Column role for CSV and Parquet, as ROLE=COLUMN (roles: user, email, anonymous, event, timestamp, message_id, type).
        #[arg(long = "column", value_name = "ROLE=COLUMN")]
        columns: Vec<String>,
        /// CSV field delimiter (one character; `\t` for tab).
        #[arg(long)]
        delimiter: Option<String>,
        /// Time zone of timestamps written without an offset (IANA name).
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Import nothing from a file if any of its records is rejected.
        #[arg(long)]
        strict: bool,
        /// Report format (--format names the input format here).
        #[arg(long, value_enum, default_value_t)]
        report: OutputFormat,
        /// Events per segment written (memory used grows with it).
        #[arg(long, default_value_t = parcours_store::DEFAULT_RUN_ROWS)]
        segment_rows: usize,
    },
    /// Generate a realistic data set for the `digital` template (with planted frictions), import
    /// it, analyse it and write the HTML report.
    Demo {
        /// Customers to simulate (about 30 events each).
        #[arg(long, default_value_t = 20_000)]
        customers: u64,
        /// Seed: the same seed gives the same events.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The store to fill.
        #[command(flatten)]
        data: DataDir,
        /// Write the events to this file (.ndjson or .csv, .gz to compress) instead of the store.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// Where to write the HTML report of the analysis that follows the import.
        #[arg(long, value_name = "FILE", default_value = "report.html")]
        report: PathBuf,
        /// Import only: no analysis, no report.
        #[arg(long, conflicts_with = "report")]
        no_report: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Measure the journey on the store: where customers stand, where they leave.
    Analyze {
        /// The journey file.
        #[arg(long, short, default_value = "journey.toml")]
        journey: PathBuf,
        /// The store.
        #[command(flatten)]
        data: DataDir,
        /// Only events from this date or time (`2026-03-01`, RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Only events before this date or time.
        #[arg(long)]
        to: Option<String>,
        /// Split every result by persona, segment, channel, prop.NAME, trait.NAME or
        /// context.PATH.
        #[arg(long, value_name = "ATTRIBUTE")]
        by: Option<String>,
        /// Output: tables, JSON (docs/report-schema.md) or a self-contained HTML report.
        #[arg(long, value_enum, default_value_t)]
        format: ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Threads to analyse with (default: one per core).
        #[arg(long, env = "PARCOURS_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
    },
    /// Export one row per customer with their stage and funnel level, for a CRM.
    Customers {
        /// The journey file.
        #[arg(long, short, default_value = "journey.toml")]
        journey: PathBuf,
        /// The store.
        #[command(flatten)]
        data: DataDir,
        /// Only customers whose furthest stage is this one.
        #[arg(long)]
        stage: Option<String>,
        /// Only customers in this segment.
        #[arg(long)]
        segment: Option<String>,
        /// Only events from this date or time.
        #[arg(long)]
        from: Option<String>,
        /// Only events before this date or time.
        #[arg(long)]
        to: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = RowFormat::Csv)]
        format: RowFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Serve the tracking API (Segment-compatible) and Mailjet's webhook over a durable event
    /// log, moving new events into the store every few seconds, the read API and the web UI.
    Serve(ServeArgs),
    /// Manage `parcours serve`'s keys: write keys for the tracking API, view keys for the
    /// read API (a running server picks changes up within seconds).
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The web UI's admin: `parcours admin password` replaces the admin password.
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Inspect or maintain the store.
    Store {
        /// What to do.
        #[command(subcommand)]
        action: StoreAction,
    },
}

/// `parcours serve`'s arguments, as given (flags or environment); the settings file and
/// the defaults fill in the rest.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Settings file, its `[serve]` table (default: ./parcours.toml when there is one).
    /// Flags and environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PARCOURS_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// Data directory of the embedded store [default: parcours-data].
    #[arg(long, env = "PARCOURS_DATA")]
    pub data: Option<PathBuf>,
    /// The journey the read API measures [default: ./journey.toml when there is one].
    #[arg(long, short, env = "PARCOURS_JOURNEY")]
    pub journey: Option<PathBuf>,
    /// A write key the tracking API accepts besides those of `parcours keys` (SDKs
    /// send it as the HTTP Basic user); several are separated by commas.
    #[arg(long = "write-key", env = "PARCOURS_WRITE_KEYS", value_delimiter = ',')]
    pub write_keys: Vec<String>,
    /// `user:password` the Mailjet webhook (`/webhooks/mailjet`) must be called with
    /// (written in the webhook's URL at Mailjet); without it the webhook is open.
    #[arg(long, env = "PARCOURS_MAILJET_AUTH")]
    pub mailjet_auth: Option<String>,
    /// Seconds between moves of the event log into the store [default: 2].
    #[arg(long, env = "PARCOURS_COMPACT_EVERY")]
    pub compact_every: Option<f64>,
    /// How the server logs to standard error [default: text].
    #[arg(long, value_enum, env = "PARCOURS_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// `parcours keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print it.
    Create {
        /// What the key is for (`web`, `ios app`, a teammate's name).
        #[arg(long)]
        name: String,
        /// `write` sends events (tracking API); `view` reads results (read API).
        #[arg(long, value_enum, default_value_t)]
        kind: KeyKindArg,
        /// The store.
        #[command(flatten)]
        data: DataDir,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// List the keys, revoked ones too.
    List {
        /// The store.
        #[command(flatten)]
        data: DataDir,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Revoke a key: requests with it are refused from then on.
    Revoke {
        /// The key's number (see `parcours keys list`).
        id: i64,
        /// The store.
        #[command(flatten)]
        data: DataDir,
    },
}

/// `parcours admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Replace the web UI's admin password (asked on the terminal, or read as one line from
    /// standard input) and end the admin sessions.
    Password {
        /// The store `parcours serve` uses.
        #[command(flatten)]
        data: DataDir,
    },
}

/// What a key of `parcours keys create` lets its holder do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum KeyKindArg {
    /// Send events to the tracking API.
    #[default]
    Write,
    /// Read results from the read API.
    View,
}

/// `parcours store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Events, customers, segments, sizes and date range.
    Stats {
        /// The store.
        #[command(flatten)]
        data: DataDir,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Rewrite segments: current customer ids, global order, fewer files.
    Compact {
        /// The store.
        #[command(flatten)]
        data: DataDir,
        /// Events per segment after compaction.
        #[arg(long, default_value_t = 4_000_000)]
        segment_rows: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}
