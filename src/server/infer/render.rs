//! From a request's input to the prompt text, as Ollama renders it: chat messages through the
//! model's template with the oldest messages dropped until the prompt fits `num_ctx` (system
//! messages kept, the last message always); a generate prompt through the template (or raw),
//! after any `context` tokens.

use serde_json::Value;

use super::check;
use super::{Generate, Input};
use crate::api::types::Message;
use crate::sched::Lease;
use crate::server::error::ApiError;
use crate::server::meta::ModelMeta;
use crate::server::prompt::{self, ChatTemplate};
use crate::store::model::Model;
use crate::template;

/// The prompt for `input`, and how many images it holds.
pub async fn prompt(
    lease: &Lease,
    model: &Model,
    meta: &ModelMeta,
    input: &Input,
    num_ctx: i64,
    truncate: bool,
) -> Result<(String, usize), ApiError> {
    match input {
        Input::Chat { messages, tools } => {
            let tmpl = ChatTemplate::for_model(model, meta)?;
            let msgs = prompt::chat_messages(model, messages);
            let images = msgs.iter().map(|m| m.images.len()).sum();
            let text = fit_to_context(lease, &tmpl, &msgs, tools, num_ctx, truncate).await?;
            Ok((text, images))
        }
        Input::Generate(g) => {
            let mut text = String::new();
            if let Some(ctx) = &g.context {
                tracing::warn!(
                    "the context field is deprecated and will be removed in a future version"
                );
                let tokens = ctx.iter().map(|&t| t as i32).collect();
                text.push_str(&check::answer(lease.runner.detokenize(tokens)).await?);
            }
            if g.raw {
                text.push_str(&g.prompt);
            } else {
                text.push_str(&generate(model, meta, g)?);
            }
            Ok((text, g.images.len()))
        }
    }
}

/// Renders `msgs`, dropping the oldest non-system messages until the prompt fits `num_ctx`
/// tokens, as Ollama's `chatPrompt` does. One tokenization when it already fits.
async fn fit_to_context(
    lease: &Lease,
    tmpl: &ChatTemplate,
    msgs: &[Message],
    tools: &[Value],
    num_ctx: i64,
    truncate: bool,
) -> Result<String, ApiError> {
    let full = tmpl.render(msgs, tools)?;
    if !truncate || msgs.len() <= 1 {
        return Ok(full);
    }
    if (check::tokenize(lease, full.clone()).await?.len() as i64) <= num_ctx {
        return Ok(full);
    }
    let with_systems_before = |i: usize| -> Vec<Message> {
        let mut v: Vec<Message> = msgs[..i]
            .iter()
            .filter(|m| m.role == "system")
            .cloned()
            .collect();
        v.extend_from_slice(&msgs[i..]);
        v
    };
    // Walk back from the last message while the suffix still fits.
    let mut start = msgs.len() - 1;
    for i in (0..msgs.len() - 1).rev() {
        let p = tmpl.render(&with_systems_before(i), tools)?;
        if (check::tokenize(lease, p).await?.len() as i64) > num_ctx {
            break;
        }
        start = i;
    }
    tracing::debug!(
        dropped = start,
        "truncating input messages which exceed context length"
    );
    tmpl.render(&with_systems_before(start), tools)
}

/// The prompt as Ollama renders it for generate: a template override or `suffix` executes the Go
/// template directly; otherwise system + MESSAGE history (unless `context`) + the user prompt go
/// through the model's template.
fn generate(model: &Model, meta: &ModelMeta, g: &Generate) -> Result<String, ApiError> {
    let tmpl = if g.template.is_empty() {
        ChatTemplate::for_model(model, meta)?
    } else {
        ChatTemplate::Go(prompt::parse_go(&g.template)?)
    };
    if !g.suffix.is_empty() {
        let ChatTemplate::Go(t) = &tmpl else {
            return Err(ApiError::bad_request(format!(
                "{} does not support insert",
                model.stored.name
            )));
        };
        let values = template::Values {
            prompt: g.prompt.clone(),
            suffix: g.suffix.clone(),
            ..template::Values::default()
        };
        return t
            .render(&values)
            .map_err(|e| ApiError::internal(format!("template error: {e}")));
    }
    let mut msgs = Vec::new();
    if !g.system.is_empty() {
        msgs.push(Message::new("system", g.system.clone()));
    } else if let Some(s) = model.system.as_ref().filter(|s| !s.is_empty()) {
        msgs.push(Message::new("system", s.clone()));
    }
    if g.context.is_none() {
        msgs.extend(model.messages.iter().cloned());
    }
    let mut user = Message::new("user", g.prompt.clone());
    user.images = g.images.clone();
    msgs.push(user);
    tmpl.render(&msgs, &[])
}
