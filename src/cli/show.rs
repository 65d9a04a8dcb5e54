//! `rollama show MODEL`: the sectioned summary, or one raw field with `--license`,
//! `--modelfile`, `--parameters`, `--template` or `--system`.

use super::args::ShowArgs;
use super::format::table;
use super::{CliError, out};
use crate::api::client::Client;
use crate::api::types::{ShowRequest, ShowResponse};
use crate::gofmt::human_number;

pub async fn show(client: &Client, args: ShowArgs) -> Result<(), CliError> {
    let selectors = [
        args.license,
        args.modelfile,
        args.parameters,
        args.template,
        args.system,
    ];
    if selectors.iter().filter(|s| **s).count() > 1 {
        return Err(CliError(
            "only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified"
                .to_string(),
        ));
    }
    let resp = client
        .show(&ShowRequest {
            model: args.model.clone(),
            verbose: args.verbose,
            ..ShowRequest::default()
        })
        .await?;
    let raw = |s: &str, none: &str| out(&format!("{}\n", if s.is_empty() { none } else { s }));
    if args.license {
        raw(&resp.license, "No license was specified for this model.")
    } else if args.modelfile {
        out(&resp.modelfile)
    } else if args.parameters {
        raw(
            &resp.parameters,
            "No parameters were specified for this model.",
        )
    } else if args.template {
        raw(&resp.template, "No template was specified for this model.")
    } else if args.system {
        raw(
            &resp.system,
            "No system message was specified for this model.",
        )
    } else {
        out(&summary(&resp, args.verbose))
    }
}

/// Ollama's default `show` view: indented Model, Capabilities, Parameters, (with `-v`) Metadata
/// and Tensors, System and License sections.
pub fn summary(resp: &ShowResponse, verbose: bool) -> String {
    let mut out = String::new();
    let mut section = |header: &str, rows: Vec<Vec<String>>| {
        out.push_str(&format!("  {header}\n"));
        out.push_str(&table(&rows));
        out.push('\n');
    };
    let info = &resp.model_info;
    let num = |key: &str| -> Option<String> {
        info.get(key)
            .and_then(|v| v.as_f64())
            .map(crate::gofmt::float)
    };
    let mut model = Vec::new();
    let arch = info
        .get("general.architecture")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    match &arch {
        Some(arch) => {
            model.push(row(&["architecture", arch]));
            let params = info
                .get("general.parameter_count")
                .and_then(|v| v.as_u64())
                .map(human_number)
                .unwrap_or_default();
            model.push(row(&["parameters", &params]));
            if let Some(n) = num(&format!("{arch}.context_length")) {
                model.push(row(&["context length", &n]));
            }
            if let Some(n) = num(&format!("{arch}.embedding_length")) {
                model.push(row(&["embedding length", &n]));
            }
        }
        None => {
            model.push(row(&["architecture", &resp.details.family]));
            model.push(row(&["parameters", &resp.details.parameter_size]));
        }
    }
    model.push(row(&["quantization", &resp.details.quantization_level]));
    if !resp.requires.is_empty() {
        model.push(row(&["requires", &resp.requires]));
    }
    section("Model", model);
    if !resp.capabilities.is_empty() {
        section(
            "Capabilities",
            resp.capabilities.iter().map(|c| row(&[c])).collect(),
        );
    }
    if !resp.projector_info.is_empty() {
        let p = &resp.projector_info;
        let arch = p
            .get("general.architecture")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let count = p
            .get("general.parameter_count")
            .and_then(|v| v.as_u64())
            .map(human_number)
            .unwrap_or_default();
        let mut rows = vec![row(&["architecture", arch]), row(&["parameters", &count])];
        let pnum = |key: String| {
            p.get(&key)
                .and_then(|v| v.as_f64())
                .map(crate::gofmt::float)
        };
        if let Some(n) = pnum(format!("{arch}.vision.embedding_length")) {
            rows.push(row(&["embedding length", &n]));
        }
        if let Some(n) = pnum(format!("{arch}.vision.projection_dim")) {
            rows.push(row(&["dimensions", &n]));
        }
        section("Projector", rows);
    }
    if !resp.parameters.is_empty() {
        let rows = resp
            .parameters
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut r = vec![String::new()];
                r.extend(l.split_whitespace().map(str::to_string));
                r
            })
            .collect();
        section("Parameters", rows);
    }
    if verbose {
        let mut keys: Vec<&String> = info.keys().collect();
        keys.sort();
        let rows = keys
            .into_iter()
            .map(|k| row(&[k, &metadata_value(&info[k])]))
            .collect();
        section("Metadata", rows);
        if !resp.tensors.is_empty() {
            let rows = resp
                .tensors
                .iter()
                .map(|t| {
                    let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
                    row(&[&t.name, &t.kind, &format!("[{}]", shape.join(" "))])
                })
                .collect();
            section("Tensors", rows);
        }
    }
    let head = |s: &str| -> Vec<Vec<String>> {
        s.lines()
            .filter(|l| !l.trim().is_empty())
            .take(2)
            .map(|l| row(&[l.trim()]))
            .collect()
    };
    if !resp.system.is_empty() {
        section("System", head(&resp.system));
    }
    if !resp.license.is_empty() {
        section("License", head(&resp.license));
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    std::iter::once(String::new())
        .chain(cells.iter().map(|s| s.to_string()))
        .collect()
}

/// A metadata value as `show -v` prints it: arrays are cut to what fits in ten columns, then
/// `...+N more]`, as Ollama does.
fn metadata_value(v: &serde_json::Value) -> String {
    use serde_json::Value;
    let plain = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::gofmt::float(n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    };
    match v {
        Value::Array(items) => {
            let mut width = 1;
            let mut shown = 0;
            for (i, item) in items.iter().enumerate() {
                let w = plain(item).chars().count() + if i > 0 { 2 } else { 0 };
                if width + w > 10 && i > 0 {
                    break;
                }
                width += w;
                shown += 1;
            }
            let parts: Vec<String> = items[..shown].iter().map(plain).collect();
            if shown < items.len() {
                format!("[{} ...+{} more]", parts.join(" "), items.len() - shown)
            } else {
                format!("[{}]", parts.join(" "))
            }
        }
        other => plain(other),
    }
}
