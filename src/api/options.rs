//! Ollama's model options (`api.Options` + `api.Runner` in Ollama's `api/types.go`):
//! the table of accepted names and their types, the typed [`Options`] struct with
//! Ollama's `DefaultOptions`, the JSON-map overlay used for request `options` and
//! stored parameters ([`Options::apply_map`] = Go's `FromMap`), and the string typing
//! used by Modelfile `PARAMETER` lines and the REPL's `/set parameter`
//! ([`format_params`] = Go's `FormatParams`). Error texts are Ollama's, byte for byte.
//!
//! This module is a leaf: it depends on serde/serde_json/thiserror only and must not
//! reach into the rest of the crate (the Modelfile parser, the server and the CLI all
//! build on it).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

mod goparse;
#[cfg(test)]
mod tests;

/// The Go type behind an option, which decides how its values are checked and typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// Go `int` (64-bit).
    Int,
    /// Go `float32`.
    Float,
    /// Go `bool` or `*bool` (`use_mmap`).
    Bool,
    /// Go `string`. No current option has this type; kept so the table can grow.
    String,
    /// Go `[]string` (`stop`).
    StringArray,
}

/// Every option Ollama accepts, in `api.Runner` then `api.Options` field order.
const OPTIONS: &[(&str, OptionKind)] = &[
    ("num_ctx", OptionKind::Int),
    ("num_batch", OptionKind::Int),
    ("num_gpu", OptionKind::Int),
    ("main_gpu", OptionKind::Int),
    ("use_mmap", OptionKind::Bool),
    ("num_thread", OptionKind::Int),
    ("draft_num_predict", OptionKind::Int),
    ("num_keep", OptionKind::Int),
    ("seed", OptionKind::Int),
    ("num_predict", OptionKind::Int),
    ("top_k", OptionKind::Int),
    ("top_p", OptionKind::Float),
    ("min_p", OptionKind::Float),
    ("typical_p", OptionKind::Float),
    ("repeat_last_n", OptionKind::Int),
    ("temperature", OptionKind::Float),
    ("repeat_penalty", OptionKind::Float),
    ("presence_penalty", OptionKind::Float),
    ("frequency_penalty", OptionKind::Float),
    ("stop", OptionKind::StringArray),
];

/// Load-time options (Go's `api.Runner`): a request whose values differ from the loaded
/// runner's forces a reload.
pub const RUNNER_OPTIONS: [&str; 7] = [
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "num_thread",
    "draft_num_predict",
];

/// Parameters Ollama's Modelfile reader drops with `warning: parameter X is deprecated`
/// (Go's `deprecatedParameters` in `parser/parser.go`).
pub const DEPRECATED_PARAMETERS: [&str; 9] = [
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
];

/// Options that used to exist. API requests ignore them without complaint; in a
/// Modelfile the nine [`DEPRECATED_PARAMETERS`] warn while `numa` and `tfs_z`, which
/// Ollama dropped earlier and never listed as deprecated, fail as unknown parameters.
pub const REMOVED_OPTIONS: [&str; 11] = [
    "numa",
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
    "tfs_z",
];

/// The type of option `name` (case-sensitive, as in Ollama), or `None` if Ollama does
/// not accept it.
pub fn kind(name: &str) -> Option<OptionKind> {
    OPTIONS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// All accepted option names, runner options first.
pub fn names() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().map(|(n, _)| *n)
}

/// Whether `name` is a load-time ([`RUNNER_OPTIONS`]) option.
pub fn is_runner_option(name: &str) -> bool {
    RUNNER_OPTIONS.contains(&name)
}

/// Whether a Modelfile `PARAMETER name` only warns (see [`DEPRECATED_PARAMETERS`]).
pub fn is_deprecated_parameter(name: &str) -> bool {
    DEPRECATED_PARAMETERS.contains(&name)
}

/// Whether `name` is a removed option that API requests silently ignore.
pub fn is_removed(name: &str) -> bool {
    REMOVED_OPTIONS.contains(&name)
}

/// Errors of [`Options::apply_map`] and [`format_params`], displayed exactly as Ollama
/// prints them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// `FromMap`: an int option got a non-number.
    #[error("option \"{0}\" must be of type integer")]
    NotInteger(String),
    /// `FromMap`: a float option got a non-number.
    #[error("option \"{0}\" must be of type float32")]
    NotFloat(String),
    /// `FromMap`: a bool option got a non-bool.
    #[error("option \"{0}\" must be of type boolean")]
    NotBool(String),
    /// `FromMap`: a string option got a non-string.
    #[error("option \"{0}\" must be of type string")]
    NotString(String),
    /// `FromMap`: `stop` got a non-array.
    #[error("option \"{0}\" must be of type array")]
    NotArray(String),
    /// `FromMap`: `stop` got an array holding a non-string.
    #[error("option \"{0}\" must be of an array of strings")]
    NotStringArray(String),
    /// `FormatParams`: the name is not an option (removed names included).
    #[error("unknown parameter '{0}'")]
    UnknownParameter(String),
    /// `FormatParams`: Go prints all values with `%s`, i.e. `[a b]`.
    #[error("invalid int value {}", go_list(.0))]
    InvalidInt(Vec<String>),
    #[error("invalid float value {}", go_list(.0))]
    InvalidFloat(Vec<String>),
    #[error("invalid bool value {}", go_list(.0))]
    InvalidBool(Vec<String>),
    /// A float Go accepts (`inf`, `nan`) that its JSON encoder then refuses; Ollama's
    /// client fails with this text when it sends the request.
    #[error("json: unsupported value: {0}")]
    UnsupportedValue(String),
}

/// Go's `%s` rendering of a `[]string`.
fn go_list(vals: &[String]) -> String {
    format!("[{}]", vals.join(" "))
}

/// Typed options with Ollama's `DefaultOptions()` as [`Default`].
///
/// Field types follow Go (`int` is 64-bit, `float32` stays `f32`). Deserialising fills
/// missing fields from the defaults. Serialising writes every field (not Go's
/// `omitempty` shape) so a round trip cannot turn an explicit zero into a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    pub num_ctx: i64,
    pub num_batch: i64,
    pub num_gpu: i64,
    pub main_gpu: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_mmap: Option<bool>,
    pub num_thread: i64,
    pub draft_num_predict: i64,
    pub num_keep: i64,
    pub seed: i64,
    pub num_predict: i64,
    pub top_k: i64,
    pub top_p: f32,
    pub min_p: f32,
    pub typical_p: f32,
    pub repeat_last_n: i64,
    pub temperature: f32,
    pub repeat_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub stop: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            // Ollama takes num_ctx from OLLAMA_CONTEXT_LENGTH / the VRAM tier; 4096 is
            // the tier floor and the value with no env and no GPU. Callers override.
            num_ctx: 4096,
            num_batch: 512,
            num_gpu: -1,
            main_gpu: 0,
            use_mmap: None,
            num_thread: 0,
            // Ollama's default is 4, used only with a DRAFT model; rollama drafts from the
            // context, where longer guesses pay (engine::draft).
            draft_num_predict: 16,
            num_keep: 4,
            seed: -1,
            num_predict: -1,
            top_k: 40,
            top_p: 0.9,
            min_p: 0.0,
            typical_p: 1.0,
            repeat_last_n: 64,
            temperature: 0.8,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            stop: Vec::new(),
        }
    }
}

/// A checked value ready to store in a field.
enum Typed {
    Int(i64),
    Float(f32),
    Bool(bool),
    List(Vec<String>),
}

impl Options {
    /// Overlays a JSON object of options (Go's `Options.FromMap`).
    ///
    /// `null` values are skipped; removed options are ignored silently; unknown keys are
    /// skipped and returned so the caller can log Ollama's `invalid option provided`
    /// warning. The first wrongly typed value aborts with its error, leaving earlier keys
    /// applied (as Go does).
    pub fn apply_map(&mut self, m: &Map<String, Value>) -> Result<Vec<String>, OptionError> {
        let mut unknown = Vec::new();
        for (key, val) in m {
            if is_removed(key) {
                continue;
            }
            let Some(k) = kind(key) else {
                unknown.push(key.clone());
                continue;
            };
            if val.is_null() {
                continue;
            }
            let typed = match k {
                OptionKind::Int => match val {
                    // Go decodes every JSON number as float64 and truncates it.
                    Value::Number(n) => Typed::Int(go_f64_to_int(n.as_f64().unwrap_or(0.0))),
                    _ => return Err(OptionError::NotInteger(key.clone())),
                },
                OptionKind::Float => match val {
                    Value::Number(n) => Typed::Float(n.as_f64().unwrap_or(0.0) as f32),
                    _ => return Err(OptionError::NotFloat(key.clone())),
                },
                OptionKind::Bool => match val {
                    Value::Bool(b) => Typed::Bool(*b),
                    _ => return Err(OptionError::NotBool(key.clone())),
                },
                // No string-typed field exists today; the type check still applies.
                OptionKind::String => match val {
                    Value::String(_) => continue,
                    _ => return Err(OptionError::NotString(key.clone())),
                },
                OptionKind::StringArray => {
                    let Value::Array(items) = val else {
                        return Err(OptionError::NotArray(key.clone()));
                    };
                    let mut list = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Value::String(s) => list.push(s.clone()),
                            _ => return Err(OptionError::NotStringArray(key.clone())),
                        }
                    }
                    Typed::List(list)
                }
            };
            self.set(key, typed);
        }
        Ok(unknown)
    }

    fn set(&mut self, key: &str, v: Typed) {
        match v {
            Typed::Int(i) => {
                let field = match key {
                    "num_ctx" => &mut self.num_ctx,
                    "num_batch" => &mut self.num_batch,
                    "num_gpu" => &mut self.num_gpu,
                    "main_gpu" => &mut self.main_gpu,
                    "num_thread" => &mut self.num_thread,
                    "draft_num_predict" => &mut self.draft_num_predict,
                    "num_keep" => &mut self.num_keep,
                    "seed" => &mut self.seed,
                    "num_predict" => &mut self.num_predict,
                    "top_k" => &mut self.top_k,
                    "repeat_last_n" => &mut self.repeat_last_n,
                    _ => return,
                };
                *field = i;
            }
            Typed::Float(f) => {
                let field = match key {
                    "top_p" => &mut self.top_p,
                    "min_p" => &mut self.min_p,
                    "typical_p" => &mut self.typical_p,
                    "temperature" => &mut self.temperature,
                    "repeat_penalty" => &mut self.repeat_penalty,
                    "presence_penalty" => &mut self.presence_penalty,
                    "frequency_penalty" => &mut self.frequency_penalty,
                    _ => return,
                };
                *field = f;
            }
            Typed::Bool(b) => {
                if key == "use_mmap" {
                    self.use_mmap = Some(b);
                }
            }
            Typed::List(list) => {
                if key == "stop" {
                    self.stop = list;
                }
            }
        }
    }
}

/// Go's `int64(f)` on amd64: truncation toward zero, and the "integer indefinite"
/// value `i64::MIN` for NaN or anything out of range (Rust's `as` would saturate).
fn go_f64_to_int(f: f64) -> i64 {
    // 2^63 as f64; -2^63 is in range, and NaN is in no range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// Types `PARAMETER`-style string values (Go's `api.FormatParams`).
///
/// Each entry is a name and its values: a Modelfile line gives one value, the REPL's
/// `/set parameter name a b c` gives every word. Only `stop` keeps all values; the other
/// kinds read the first and quote them all in errors. Entries are processed in order
/// and a repeated name overwrites the earlier one.
///
/// Output values are the JSON Ollama ends up storing: ints as integers, bools as bools,
/// `stop` as an array, floats via [`float32_json`].
pub fn format_params(params: &[(String, Vec<String>)]) -> Result<Map<String, Value>, OptionError> {
    let mut out = Map::new();
    for (key, vals) in params {
        let Some(k) = kind(key) else {
            return Err(OptionError::UnknownParameter(key.clone()));
        };
        // Go indexes vals[0] unguarded; an empty list reads as "" so it errors instead.
        let first = vals.first().map(String::as_str).unwrap_or("");
        let value = match k {
            OptionKind::Float => match goparse::parse_f32(first) {
                Some(f) => float32_json(f)?,
                None => return Err(OptionError::InvalidFloat(vals.clone())),
            },
            OptionKind::Int => match goparse::parse_i64(first) {
                Some(i) => Value::from(i),
                None => return Err(OptionError::InvalidInt(vals.clone())),
            },
            OptionKind::Bool => match goparse::parse_bool(first) {
                Some(b) => Value::Bool(b),
                None => return Err(OptionError::InvalidBool(vals.clone())),
            },
            OptionKind::String => Value::String(first.to_string()),
            OptionKind::StringArray => {
                Value::Array(vals.iter().map(|v| Value::String(v.clone())).collect())
            }
        };
        out.insert(key.clone(), value);
    }
    Ok(out)
}

/// The JSON value a Go `float32` becomes once Ollama has sent it over the wire and
/// stored it: Go writes the shortest decimal that round-trips as `float32` (so `0.7`
/// stays `0.7`), the server reads that back as `float64`, and writes it again with
/// integral values as bare integers (`1`, not `1.0`). Integral values are therefore
/// returned as JSON integers so serde_json prints them as Go does.
///
/// Infinities and NaN, which Go's parser accepts, are refused by Go's JSON encoder.
pub fn float32_json(f: f32) -> Result<Value, OptionError> {
    if f.is_nan() {
        return Err(OptionError::UnsupportedValue("NaN".to_string()));
    }
    if f.is_infinite() {
        let sign = if f > 0.0 { "+Inf" } else { "-Inf" };
        return Err(OptionError::UnsupportedValue(sign.to_string()));
    }
    // Rust's Display is the shortest round-trip decimal, the same digits Go emits.
    let wide: f64 = f.to_string().parse().unwrap_or(f64::from(f));
    // Beyond 2^53 integral f64s are exactly representable as i64 only up to 2^63.
    if wide.fract() == 0.0 && wide.abs() < 9.0e18 && !(wide == 0.0 && wide.is_sign_negative()) {
        return Ok(Value::from(wide as i64));
    }
    Ok(Number::from_f64(wide).map_or(Value::Null, Value::Number))
}
