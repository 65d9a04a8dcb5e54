//! Ollama's options (`api::options::Options`, already merged: defaults < model < request)
//! mapped onto what the engine takes: load-time parameters (a change forces a reload) and
//! per-request sampling. Depends only on `api::options` and the engine's own types.

use std::path::PathBuf;

use super::{LoadDefaults, LoadParams, SamplingParams};
use crate::api::options::Options;

/// Load parameters for `opts`. `num_thread` 0 means the CPUs this process may use; a context
/// longer than the model was trained for is capped to the trained length.
pub fn load_params(
    opts: &Options,
    model_path: PathBuf,
    adapters: Vec<PathBuf>,
    trained_ctx: Option<u64>,
    defaults: LoadDefaults,
) -> LoadParams {
    let mut num_ctx = opts.num_ctx.clamp(4, u32::MAX as i64) as u32;
    if let Some(trained) = trained_ctx
        && trained > 0
        && u64::from(num_ctx) > trained
    {
        tracing::warn!(
            requested = num_ctx,
            trained,
            "requested context size too large for model, capping to the trained context"
        );
        num_ctx = trained.min(u32::MAX as u64) as u32;
    }
    let num_thread = match opts.num_thread {
        n if n > 0 => n.min(1024) as u32,
        _ => super::llama::default_threads(),
    };
    LoadParams {
        model_path,
        adapters,
        num_ctx,
        num_batch: opts.num_batch.clamp(1, 1 << 16) as u32,
        num_thread,
        num_parallel: defaults.num_parallel.max(1),
        // On CPU llama.cpp maps the file either way; mmap keeps the page cache shared.
        use_mmap: opts.use_mmap.unwrap_or(true),
        flash_attention: defaults.flash_attention,
        kv_cache_type: defaults.kv_cache_type,
        draft_max: opts.draft_num_predict.clamp(0, MAX_DRAFT) as u32,
        llama_lm_head: defaults.llama_lm_head,
        projector: None,
    }
}

/// The longest draft one step verifies (llama-server's `--draft-max` default is 16).
const MAX_DRAFT: i64 = 64;

pub fn sampling_params(opts: &Options) -> SamplingParams {
    SamplingParams {
        temperature: opts.temperature,
        top_k: opts.top_k.clamp(0, i32::MAX as i64) as i32,
        top_p: opts.top_p,
        min_p: opts.min_p,
        typical_p: opts.typical_p,
        seed: opts.seed,
        repeat_last_n: opts.repeat_last_n.clamp(-1, i32::MAX as i64) as i32,
        repeat_penalty: opts.repeat_penalty,
        presence_penalty: opts.presence_penalty,
        frequency_penalty: opts.frequency_penalty,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn caps_context_to_training_length() {
        let mut o = Options {
            num_ctx: 1 << 20,
            ..Options::default()
        };
        let d = LoadDefaults {
            num_parallel: 1,
            ..LoadDefaults::default()
        };
        let p = load_params(&o, "m".into(), vec![], Some(32768), d);
        assert_eq!(p.num_ctx, 32768);
        o.num_thread = 3;
        o.draft_num_predict = 1000;
        let p = load_params(&o, "m".into(), vec![], None, LoadDefaults::default());
        assert_eq!(p.num_thread, 3);
        assert_eq!(p.num_parallel, 1);
        assert_eq!(p.draft_max, MAX_DRAFT as u32);
    }

    #[test]
    fn sampling_mapping() {
        let o = Options {
            temperature: 0.0,
            seed: 42,
            ..Options::default()
        };
        let s = sampling_params(&o);
        assert_eq!(s.temperature, 0.0);
        assert_eq!(s.seed, 42);
        assert_eq!(s.top_k, 40);
    }
}
