//! Mapping a parsed Modelfile onto the pieces of an `/api/create` request, as Ollama's
//! `Modelfile.CreateRequest` does, minus the filesystem: typed parameters (with `stop`
//! accumulating), messages, licenses, last-wins singletons, the REQUIRES check, and the
//! deprecated-parameter warnings, each in command order so that warnings and the first
//! error come out as in Ollama.
//!
//! Uses `crate::api::options` for parameter typing; nothing else from the crate.

use serde_json::{Map, Value};

use super::{Modelfile, cut, semver};
use crate::api::options::{self, OptionError};

/// A FROM / ADAPTER / DRAFT argument and the (physical) line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub value: String,
    pub line: usize,
}

/// The request fields a Modelfile yields.
///
/// Path-like arguments are kept raw and in order: the CLI resolves each (relative to
/// the Modelfile's directory) and, like Ollama, treats a FROM that names no existing
/// path as a model name (`from`, last such FROM wins) and merges the files of every FROM
/// that is a path. Ollama keeps only the last ADAPTER's files.
///
/// `template`, `system`, `renderer`, `parser` and `requires` are last-wins and `None`
/// when the last value is empty (Ollama's `omitempty` drops it). `parameters` holds the
/// JSON Ollama sends, keys sorted as Go's encoder writes them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateParts {
    pub models: Vec<Located>,
    pub adapters: Vec<Located>,
    pub drafts: Vec<Located>,
    pub template: Option<String>,
    pub system: Option<String>,
    pub license: Vec<String>,
    pub renderer: Option<String>,
    pub parser: Option<String>,
    pub requires: Option<String>,
    pub parameters: Map<String, Value>,
    /// `(role, content)` pairs.
    pub messages: Vec<(String, String)>,
}

impl CreateParts {
    /// The last FROM argument, the one Ollama sends as `from` when it is not a path.
    pub fn from(&self) -> Option<&Located> {
        self.models.last()
    }
}

/// Why a Modelfile cannot become a create request. `Display` is Ollama's text, which
/// carries no line number; `line()` says where it came from anyway.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// A PARAMETER Ollama rejects (`unknown parameter 'x'`, `invalid float value [x]`…).
    #[error("{error}")]
    Parameter { line: usize, error: OptionError },
    /// A REQUIRES that is not a Go semver, even with a `v` added.
    #[error("requires must be a valid semver (e.g. 0.14.0)")]
    Requires { line: usize, value: String },
}

impl CreateError {
    pub fn line(&self) -> usize {
        match self {
            CreateError::Parameter { line, .. } | CreateError::Requires { line, .. } => *line,
        }
    }
}

impl Modelfile {
    /// Builds the create-request pieces (Ollama's `CreateRequest` without path
    /// resolution). `warn` receives `warning: parameter X is deprecated` for each
    /// deprecated PARAMETER, in order and before any later error; Ollama prints these to
    /// stdout.
    pub fn create_parts(&self, mut warn: impl FnMut(&str)) -> Result<CreateParts, CreateError> {
        let mut parts = CreateParts::default();
        let mut params = Map::new();
        for c in &self.commands {
            let located = || Located {
                value: c.args.clone(),
                line: c.line,
            };
            match c.name.as_str() {
                "model" => parts.models.push(located()),
                "adapter" => parts.adapters.push(located()),
                "draft" => parts.drafts.push(located()),
                "template" => parts.template = Some(c.args.clone()),
                "system" => parts.system = Some(c.args.clone()),
                "license" => parts.license.push(c.args.clone()),
                "renderer" => parts.renderer = Some(c.args.clone()),
                "parser" => parts.parser = Some(c.args.clone()),
                "requires" => {
                    let v = if c.args.starts_with('v') {
                        c.args.clone()
                    } else {
                        format!("v{}", c.args)
                    };
                    if !semver::is_valid(&v) {
                        return Err(CreateError::Requires {
                            line: c.line,
                            value: c.args.clone(),
                        });
                    }
                    parts.requires = Some(v[1..].to_string());
                }
                "message" => {
                    let (role, content) = cut(&c.args, ": ");
                    parts.messages.push((role.to_string(), content.to_string()));
                }
                name => {
                    if options::is_deprecated_parameter(name) {
                        warn(&format!("warning: parameter {name} is deprecated"));
                        continue;
                    }
                    let typed = options::format_params(&[(name.to_string(), vec![c.args.clone()])])
                        .map_err(|error| CreateError::Parameter {
                            line: c.line,
                            error,
                        })?;
                    for (k, v) in typed {
                        match (params.get_mut(&k), v) {
                            (Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
                            (_, v) => {
                                params.insert(k, v);
                            }
                        }
                    }
                }
            }
        }
        for field in [
            &mut parts.template,
            &mut parts.system,
            &mut parts.renderer,
            &mut parts.parser,
        ] {
            if field.as_deref() == Some("") {
                *field = None;
            }
        }
        let mut keys: Vec<String> = params.keys().cloned().collect();
        keys.sort();
        for k in keys {
            if let Some(v) = params.remove(&k) {
                parts.parameters.insert(k, v);
            }
        }
        Ok(parts)
    }
}
