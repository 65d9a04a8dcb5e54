//! From a model and messages to the prompt text the engine evaluates: which template applies
//! (the Modelfile's Go TEMPLATE, else the GGUF's Jinja chat template, else `{{ .Prompt }}`, as
//! Ollama chooses), how messages are assembled (model MESSAGE history, the model's SYSTEM), and
//! what the model can do (capabilities), which depends on the template.

use serde_json::Value;

use super::error::ApiError;
use super::meta::ModelMeta;
use crate::api::types::Message;
use crate::store::model::Model;
use crate::template::{self, Template};

/// The template a request renders with.
pub enum ChatTemplate {
    Go(Template),
    Jinja {
        source: String,
        bos: String,
        eos: String,
    },
}

impl ChatTemplate {
    /// Ollama's choice: Go TEMPLATE layer, else the GGUF's Jinja template, else `{{ .Prompt }}`.
    pub fn for_model(model: &Model, meta: &ModelMeta) -> Result<ChatTemplate, ApiError> {
        if let Some(src) = &model.template {
            return parse_go(src).map(ChatTemplate::Go);
        }
        if let Some(src) = &meta.chat_template {
            return Ok(ChatTemplate::Jinja {
                source: src.clone(),
                bos: meta.bos_text.clone(),
                eos: meta.eos_text.clone(),
            });
        }
        Ok(ChatTemplate::Go(Template::default_template()))
    }

    /// The text `show` reports as the template.
    pub fn source(&self) -> &str {
        match self {
            ChatTemplate::Go(t) => t.source(),
            ChatTemplate::Jinja { source, .. } => source,
        }
    }

    /// Renders messages into a prompt that ends where the assistant's answer begins.
    pub fn render(&self, messages: &[Message], tools: &[Value]) -> Result<String, ApiError> {
        match self {
            ChatTemplate::Go(t) => {
                let values = template::Values {
                    messages: messages.iter().map(to_template_message).collect(),
                    tools: tools.to_vec(),
                    ..template::Values::default()
                };
                t.render(&values)
                    .map_err(|e| ApiError::internal(format!("template error: {e}")))
            }
            ChatTemplate::Jinja { source, bos, eos } => {
                let msgs: Vec<Value> = messages
                    .iter()
                    .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
                    .collect();
                template::jinja::render(source, &msgs, tools, bos, eos).map_err(ApiError::internal)
            }
        }
    }

    /// Identifiers the template uses (lower-cased), for capability detection.
    fn uses(&self, var: &str) -> bool {
        match self {
            ChatTemplate::Go(t) => t.vars().iter().any(|v| v == var),
            ChatTemplate::Jinja { source, .. } => source.contains(var),
        }
    }
}

pub fn parse_go(src: &str) -> Result<Template, ApiError> {
    Template::parse(src).map_err(|e| ApiError::bad_request(format!("template error: {e}")))
}

fn to_template_message(m: &Message) -> template::Message {
    template::Message {
        role: m.role.clone(),
        content: m.content.clone(),
        thinking: m.thinking.clone(),
        images: m.images.len(),
        tool_calls: m.tool_calls.clone(),
        tool_name: m.tool_name.clone(),
        tool_call_id: m.tool_call_id.clone(),
    }
}

/// What the model can do: `completion` or `embedding` from the weights, then `tools`, `insert`,
/// `vision`, `thinking` from the template and projector, in Ollama's order.
pub fn capabilities(model: &Model, meta: &ModelMeta) -> Vec<String> {
    let mut caps = Vec::new();
    if model.model_path.is_none() {
        return caps;
    }
    caps.push(
        if meta.is_embedding {
            "embedding"
        } else {
            "completion"
        }
        .to_string(),
    );
    if meta.is_embedding {
        return caps;
    }
    if let Ok(t) = ChatTemplate::for_model(model, meta) {
        if t.uses("tools") {
            caps.push("tools".to_string());
        }
        if t.uses("suffix") {
            caps.push("insert".to_string());
        }
        if !model.projectors.is_empty() || meta.has_vision {
            caps.push("vision".to_string());
        }
        if t.uses("thinking") {
            caps.push("thinking".to_string());
        }
    }
    caps
}

/// Chat history as the template sees it: the model's MESSAGE layer, then the request's
/// messages, with the model's SYSTEM in front unless the request starts with its own.
pub fn chat_messages(model: &Model, request: &[Message]) -> Vec<Message> {
    let mut msgs = Vec::with_capacity(request.len() + model.messages.len() + 1);
    let starts_with_system = request.first().is_some_and(|m| m.role == "system");
    if let Some(system) = &model.system
        && !starts_with_system
        && !system.is_empty()
    {
        msgs.push(Message::new("system", system.clone()));
    }
    msgs.extend(model.messages.iter().cloned());
    msgs.extend(request.iter().cloned());
    msgs
}
