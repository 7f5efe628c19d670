//! Parcours journey files: the map as code.
//!
//! This crate owns the journey file format — its [`Journey`] model, the loader that turns
//! TOML into that model while collecting every problem as a located [`Diagnostic`], the
//! built-in KPI catalogue ([`BUILTINS`]) and the starter templates ([`TEMPLATES`]) drawn from
//! the seeds. Everything downstream (map drawing, analysis, plays) receives a [`Journey`]
//! that has already passed validation: every id it references exists and every condition is
//! typed.
//!
//! ```
//! let loaded = parcours_journey::load_str("journey.toml", parcours_journey::template("digital").unwrap().journey(), None);
//! let journey = loaded.journey.expect("templates are valid");
//! assert_eq!(journey.stages.len(), 5);
//! assert!(!loaded.report.has_errors());
//! ```

mod builtin;
mod diagnostic;
mod load;
mod model;
mod strings;
mod template_vars;
mod templates;

pub use builtin::{BUILTINS, BuiltinKpi, BuiltinSpec, Shape};
pub use diagnostic::{Diagnostic, LocatedDiagnostic, Position, Report, Severity, SourceFile};
pub use load::{LoadError, Loaded, MAX_STAGES, SECTION_KEYS, load_file, load_str};
pub use model::*;
pub use parcours_expr::Duration;
pub use template_vars::{PlaceholderError, VARIABLE_ROOTS, check_placeholders};
pub use templates::{InitError, TEMPLATES, Template, template};
