//! Errors returned by [`crate::load`].
//!
//! Every error says *where* the offending setting came from (an environment variable, or a
//! line of `MERCURE_EXTRA_DIRECTIVES` / the config file) so an operator can fix it without
//! guessing which of the three configuration layers is at fault.

/// Why the configuration could not be loaded.
///
/// The `Display` output is meant to be shown to operators as is, e.g.
/// `config.caddy:12: heartbeat: expected a duration such as 40s or 1m30s, got "abc"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A directive is unknown, has the wrong number of arguments or an invalid value.
    #[error("{origin}:{line}: {directive}: {reason}")]
    Directive {
        /// Where the directive was read: `MERCURE_EXTRA_DIRECTIVES` or the config file's name.
        origin: String,
        /// 1-based line of the directive inside `origin`.
        line: usize,
        /// The directive (or transport option) name as written.
        directive: String,
        /// What was expected instead.
        reason: String,
    },
    /// The text itself is malformed: unterminated quote or block, stray brace...
    #[error("{origin}:{line}: {reason}")]
    Syntax {
        /// Where the text was read: `MERCURE_EXTRA_DIRECTIVES` or the config file's name.
        origin: String,
        /// 1-based line where the problem starts.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An environment variable has an invalid value.
    #[error("{var}: {reason}")]
    Env {
        /// The variable's name, e.g. `SERVER_NAME`.
        var: String,
        /// What was expected instead.
        reason: String,
    },
    /// Every setting is valid on its own but the whole cannot run a hub (e.g. no publisher key).
    #[error("{0}")]
    Incomplete(String),
}

/// Where a setting was given; used to build a [`ConfigError`] that points at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Site {
    Env(String),
    Directive {
        origin: String,
        line: usize,
        directive: String,
    },
}

impl Site {
    pub(crate) fn directive(origin: &str, line: usize, directive: &str) -> Self {
        Site::Directive {
            origin: origin.to_owned(),
            line,
            directive: directive.to_owned(),
        }
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> ConfigError {
        match self {
            Site::Env(var) => ConfigError::Env {
                var: var.clone(),
                reason: reason.into(),
            },
            Site::Directive {
                origin,
                line,
                directive,
            } => ConfigError::Directive {
                origin: origin.clone(),
                line: *line,
                directive: directive.clone(),
                reason: reason.into(),
            },
        }
    }

    /// Human-readable location, as used in [`crate::TransportConfig::origin`] and warnings.
    pub(crate) fn describe(&self) -> String {
        match self {
            Site::Env(var) => var.clone(),
            Site::Directive { origin, line, .. } => format!("{origin} line {line}"),
        }
    }
}
