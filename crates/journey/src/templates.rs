//! Starter journeys drawn from the seeds, written by `parcours init`.

use std::path::{Path, PathBuf};

/// A built-in starter journey: its journey file and the email templates its plays use.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    /// Name given to `parcours init --template`.
    pub name: &'static str,
    /// One line for `parcours init --list`.
    pub summary: &'static str,
    /// Files to write, relative to the target directory; the first is `journey.toml`.
    pub files: &'static [(&'static str, &'static str)],
}

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file would be overwritten and `force` was not given.
    #[error("{} already exists; pass --force to overwrite it", .0.display())]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

macro_rules! file {
    ($path:literal) => {
        ($path, include_str!(concat!("../templates/", $path)))
    };
}

/// Every built-in template.
pub const TEMPLATES: [Template; 3] = [
    Template {
        name: "email-b2b",
        summary: "B2B sales journey with its email touchpoints: research, first contact, quote, decision, deal, follow-up",
        files: &[
            ("journey.toml", include_str!("../templates/email-b2b.toml")),
            file!("templates/b2b-welcome.mjml"),
            file!("templates/b2b-quote-follow-up.mjml"),
            file!("templates/b2b-onboarding.mjml"),
        ],
    },
    Template {
        name: "digital",
        summary: "Online shop, future state with KPI targets: awareness, consideration, purchase, post-purchase, loyalty",
        files: &[
            ("journey.toml", include_str!("../templates/digital.toml")),
            file!("templates/cart-rescue.mjml"),
            file!("templates/satisfaction-survey.mjml"),
            file!("templates/come-back.mjml"),
        ],
    },
    Template {
        name: "training",
        summary: "A learner's day with an online training service: discovery, enrolment, use of the service, support",
        files: &[
            ("journey.toml", include_str!("../templates/training.toml")),
            file!("templates/enrolment-reminder.mjml"),
        ],
    },
];

/// The template with this name.
pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

impl Template {
    /// The journey file's text.
    pub fn journey(&self) -> &'static str {
        self.files[0].1
    }

    /// Writes every file of the template under `dir`. Either all files are written or none:
    /// existing files are detected before anything is written.
    pub fn write_to(&self, dir: &Path, force: bool) -> Result<Vec<PathBuf>, InitError> {
        let targets: Vec<(PathBuf, &str)> = self
            .files
            .iter()
            .map(|(path, text)| (dir.join(path), *text))
            .collect();
        if !force && let Some((existing, _)) = targets.iter().find(|(p, _)| p.exists()) {
            return Err(InitError::Exists(existing.clone()));
        }
        for (path, text) in &targets {
            let io = |source| InitError::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(path, text).map_err(io)?;
        }
        Ok(targets.into_iter().map(|(p, _)| p).collect())
    }
}
