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
}
