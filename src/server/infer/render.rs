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
use crate::server::prompt::{self, ChatTemplate};
use crate::store::model::Model;
use crate::template;

/// The prompt for `input` through the model's template `tmpl` (`None` only for a raw
/// generate prompt), with Ollama's `[img-N]` tag where each image goes, and the images the
/// tags number.
pub async fn prompt(
    lease: &Lease,
    model: &Model,
    tmpl: Option<&ChatTemplate>,
    input: &Input,
    num_ctx: i64,
    truncate: bool,
) -> Result<(String, Vec<String>), ApiError> {
    let no_template = || ApiError::internal("no template to render the prompt with");
    match input {
        Input::Chat { messages, tools } => {
            let tmpl = tmpl.ok_or_else(no_template)?;
            let mut msgs = prompt::chat_messages(model, messages);
            let images = tag_images(&mut msgs);
            let text = fit_to_context(lease, tmpl, &msgs, tools, num_ctx, truncate).await?;
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
                // A raw prompt places its images with `[img-N]` itself.
                text.push_str(&g.prompt);
            } else {
                text.push_str(&generate(model, tmpl.ok_or_else(no_template)?, g)?);
            }
            Ok((text, g.images.clone()))
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
fn generate(model: &Model, tmpl: &ChatTemplate, g: &Generate) -> Result<String, ApiError> {
    let request_template;
    let tmpl = if g.template.is_empty() {
        tmpl
    } else {
        request_template = ChatTemplate::Go(prompt::parse_go(&g.template)?);
        &request_template
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
    tag_images(&mut msgs);
    tmpl.render(&msgs, &[])
}

/// Ollama's image tags: the images of all messages are numbered in order, and each becomes
/// `[img-N]` in its message's text, in place of the first `[img]` there, else in front of it.
/// Returns the images in that order.
fn tag_images(msgs: &mut [Message]) -> Vec<String> {
    let mut images = Vec::new();
    for m in msgs.iter_mut() {
        for data in &m.images {
            let tag = format!("[img-{}]", images.len());
            m.content = match m.content.find("[img]") {
                Some(at) => format!("{}{tag}{}", &m.content[..at], &m.content[at + 5..]),
                None => format!("{tag}{}", m.content),
            };
            images.push(data.clone());
        }
    }
    images
}

/// The rendered prompt with each `[img-N]` tag (of an image the request has) replaced by the
/// engine's marker, and the images in the order their tags appear; a marker the text itself
/// holds is removed first, so only the request's images are ever placed.
pub fn place_images(prompt: &str, images: &[String]) -> (String, Vec<String>) {
    use crate::engine::vision::MARKER;
    let text = prompt.replace(MARKER, "");
    let mut out = String::with_capacity(text.len());
    let mut placed = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("[img-") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 5..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let n = after[..digits].parse::<usize>().ok();
        match n.filter(|&n| n < images.len() && after[digits..].starts_with(']')) {
            Some(n) => {
                out.push_str(MARKER);
                placed.push(images[n].clone());
                rest = &after[digits + 1..];
            }
            None => {
                out.push_str("[img-");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_tagged_then_placed_in_prompt_order() {
        let mut m1 = Message::new("user", "Compare [img] with this:");
        m1.images = vec!["A".into(), "B".into()];
        let mut m2 = Message::new("user", "and this");
        m2.images = vec!["C".into()];
        let mut msgs = vec![m1, m2];
        assert_eq!(tag_images(&mut msgs), ["A", "B", "C"]);
        assert_eq!(msgs[0].content, "[img-1]Compare [img-0] with this:");
        assert_eq!(msgs[1].content, "[img-2]and this");
        let all = vec!["A".to_string(), "B".into(), "C".into()];
        // The first message was dropped to fit the context: only C is placed.
        let (p, placed) = place_images("<u>[img-2]and this <__media__>[img-9] [img-x</u>", &all);
        assert_eq!(p, "<u><__media__>and this [img-9] [img-x</u>");
        assert_eq!(placed, ["C"]);
    }
}
