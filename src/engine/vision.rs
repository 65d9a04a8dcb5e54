//! Images through llama.cpp's multimodal library (`mtmd`), for models with a projector. The
//! server puts one marker ([`MARKER`]) in the rendered prompt where each image goes; the engine
//! splits the prompt there, tokenizes the text as usual and turns each image into an
//! [`Image`]: mtmd's chunks for it (the projector's image tokens plus any text the projector
//! type wraps them in) and as many placeholder tokens as it takes positions. Placeholders are
//! negative ids drawn from the image's bytes, so a slot's cache holding the same image matches
//! as a prefix (the image is not encoded again) and no text token ever matches one. They never
//! go into a batch: when a sequence's prompt reaches an image the engine evaluates it through
//! mtmd, alone, before the step's batch (as llama-server does).

use std::path::Path;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::mtmd::{
    MtmdBitmap, MtmdContext, MtmdContextParams, MtmdInputChunks, MtmdInputText, mtmd_default_marker,
};
use llama_cpp_2::token::LlamaToken;

/// Where the server puts each image in a prompt (mtmd's default marker).
pub const MARKER: &str = "<__media__>";

/// A model's projector, loaded against it.
pub(super) struct Vision {
    ctx: MtmdContext,
}

impl Vision {
    pub fn load(path: &Path, model: &LlamaModel, threads: i32) -> Result<Vision, String> {
        debug_assert_eq!(MARKER, mtmd_default_marker());
        let params = MtmdContextParams {
            use_gpu: cfg!(any(feature = "cuda", feature = "metal", feature = "vulkan")),
            print_timings: false,
            n_threads: threads,
            media_marker: std::ffi::CString::new(MARKER).map_err(|e| e.to_string())?,
            image_min_tokens: -1,
            image_max_tokens: -1,
        };
        let path_str = path.to_str().ok_or("the projector's path is not UTF-8")?;
        let ctx = MtmdContext::init_from_file(path_str, model, &params)
            .map_err(|e| format!("unable to load the projector {}: {e}", path.display()))?;
        if !ctx.support_vision() {
            return Err(format!(
                "the projector {} has no vision encoder",
                path.display()
            ));
        }
        Ok(Vision { ctx })
    }

    /// An image from its file bytes (PNG, JPEG, BMP, GIF, ...: what llama.cpp decodes).
    pub fn image(&self, data: &[u8]) -> Result<Image, String> {
        let bitmap = MtmdBitmap::from_buffer(&self.ctx, data, false)
            .map_err(|_| "failed to decode the image (unsupported or corrupt)".to_string())?;
        let chunks = self
            .ctx
            .tokenize(
                MtmdInputText {
                    text: MARKER.to_string(),
                    add_special: false,
                    parse_special: true,
                },
                &[&bitmap],
            )
            .map_err(|e| format!("failed to process the image: {e}"))?;
        let positions = chunks.total_positions().max(0) as usize;
        let tokens = chunks.total_tokens();
        if positions != tokens {
            // M-RoPE projectors (Qwen-VL) place an image on fewer positions than tokens; the
            // slots' caches count one position per token.
            return Err("this model's image positions are not supported yet".to_string());
        }
        Ok(Image {
            chunks,
            positions,
            hash: fnv1a(data),
        })
    }

    /// Evaluates `image` into sequence `seq` at position `pos`; returns the next position.
    pub fn eval(
        &mut self,
        image: &Image,
        ctx: &mut LlamaContext<'_>,
        pos: usize,
        seq: i32,
        n_batch: usize,
    ) -> Result<usize, String> {
        let next = image
            .chunks
            .eval_chunks(&mut self.ctx, ctx, pos as i32, seq, n_batch as i32, false)
            .map_err(|e| format!("failed to encode the image: {e}"))?;
        Ok(next.max(0) as usize)
    }
}

/// One image of a prompt, ready to evaluate.
pub(super) struct Image {
    chunks: MtmdInputChunks,
    /// Positions it takes in the sequence.
    pub positions: usize,
    hash: u64,
}

// SAFETY: the chunks are owned by this value and only read; the engine thread alone uses them.
#[allow(unsafe_code)]
unsafe impl Send for Image {}

impl Image {
    /// The placeholder tokens standing for this image in a prompt and a slot's cache.
    pub fn placeholders(&self) -> Vec<LlamaToken> {
        (0..self.positions)
            .map(|i| placeholder(self.hash, i))
            .collect()
    }
}

/// The `i`th placeholder of an image whose bytes hash to `hash`: negative, never `i32::MIN`.
fn placeholder(hash: u64, i: usize) -> LlamaToken {
    let h = hash
        .wrapping_add(i as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    LlamaToken(-1 - (h >> 34) as i32)
}

/// A placeholder, not a token of the vocabulary.
pub(super) fn is_placeholder(t: LlamaToken) -> bool {
    t.0 < 0
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_negative_and_follow_the_bytes() {
        let a = fnv1a(b"one image");
        let b = fnv1a(b"another image");
        assert_ne!(a, b);
        let ids = |hash| (0..4).map(|i| placeholder(hash, i).0).collect::<Vec<i32>>();
        assert!(
            ids(a)
                .iter()
                .chain(&ids(b))
                .all(|&t| t < 0 && t != i32::MIN)
        );
        assert_ne!(ids(a), ids(b));
        assert!(is_placeholder(LlamaToken(ids(a)[0])));
        assert!(!is_placeholder(LlamaToken(0)));
    }
}
