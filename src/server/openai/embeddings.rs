//! `POST /v1/embeddings`: input in, the native embed run, vectors (`float` or `base64`) out.

use super::*;
use crate::server::embed;

/// `POST /v1/embeddings`.
pub async fn embeddings(State(state): State<crate::server::State>, body: Bytes) -> Response {
    let r = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    let input = match r.get("input") {
        Some(Value::String(s)) => json!([s]),
        Some(Value::Array(a)) if !a.is_empty() => Value::Array(a.clone()),
        _ => return bad("invalid input"),
    };
    let encoding = r
        .get("encoding_format")
        .and_then(Value::as_str)
        .unwrap_or("float")
        .to_string();
    if encoding != "float" && encoding != "base64" {
        return bad(&format!(
            "Invalid value for 'encoding_format' = {encoding}. Supported values: ['float', 'base64']."
        ));
    }
    let model = r
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let native = json!({"model": model, "input": input, "dimensions": r.get("dimensions")});
    let req: embed::EmbedApiRequest = match serde_json::from_value(native) {
        Ok(q) => q,
        Err(e) => return bad(&e.to_string()),
    };
    let resp = match embed::embed(State(state), ApiJson(req)).await {
        Ok(j) => j.0,
        Err(e) => return e.openai(),
    };
    let data: Vec<Value> = resp
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if encoding == "base64" {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64(&bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "embedding": embedding, "index": i})
        })
        .collect();
    let tokens = resp.prompt_eval_count;
    axum::Json(json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
