//! Sampling for the slot loop: the sampler chain in llama.cpp's default order, sampling under a
//! grammar at the cost of one token check in the common case, and log-probabilities.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use super::{SamplingParams, TokenLogprob};

/// The log-probability of `token` among `logits` (log-softmax), and the `top` most likely
/// tokens with theirs.
pub(super) fn token_logprob(
    model: &LlamaModel,
    logits: &[f32],
    token: LlamaToken,
    top: usize,
) -> TokenLogprob {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_z = f64::from(max) + sum.ln();
    let lp = |t: usize| (f64::from(logits[t]) - log_z) as f32;
    let piece = |t: LlamaToken| {
        let bytes = model.vocab().token_to_piece(t, true, None);
        (String::from_utf8_lossy(&bytes).into_owned(), bytes)
    };
    let (text, bytes) = piece(token);
    let mut best: Vec<usize> = Vec::new();
    if top > 0 {
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        let k = top.min(idx.len());
        idx.select_nth_unstable_by(k - 1, |&a, &b| logits[b].total_cmp(&logits[a]));
        idx.truncate(k);
        idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        best = idx;
    }
    TokenLogprob {
        token: text,
        logprob: lp(token.0 as usize),
        bytes,
        top: best
            .into_iter()
            .map(|t| {
                let (s, b) = piece(LlamaToken(t as i32));
                (s, lp(t), b)
            })
            .collect(),
    }
}

/// Samples under a grammar the way llama.cpp's common sampler does, so the grammar costs little:
/// the token the sampler picks freely is kept when the grammar allows it (checking one token is
/// cheap); only otherwise is the grammar applied to the whole vocabulary before sampling again.
pub(super) fn sample_constrained(
    chain: &mut LlamaSampler,
    grammar: &mut LlamaSampler,
    ctx: &LlamaContext,
    row: i32,
    eos: LlamaToken,
) -> LlamaToken {
    let logits = ctx.get_logits_ith(row);
    let all = || {
        LlamaTokenDataArray::from_iter(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
            false,
        )
    };
    let mut free = all();
    chain.apply(&mut free);
    let allowed = free.selected_token().filter(|&t| {
        let mut one = LlamaTokenDataArray::new(
            vec![LlamaTokenData::new(t, logits[t.0 as usize], 0.0)],
            false,
        );
        grammar.apply(&mut one);
        one.data
            .first()
            .is_some_and(|d| d.logit() > f32::NEG_INFINITY)
    });
    let token = match allowed {
        Some(t) => t,
        None => {
            let mut constrained = all();
            grammar.apply(&mut constrained);
            chain.apply(&mut constrained);
            // Nothing allowed at all: end the answer.
            constrained.selected_token().unwrap_or(eos)
        }
    };
    chain.accept(token);
    grammar.accept(token);
    token
}

/// llama.cpp's default sampler order: penalties, top_k, typical, top_p, min_p, temperature, then
/// the selector (greedy at temperature 0). top_k comes early because every stage after it runs
/// over fewer candidates: with a 262k vocabulary that is most of the sampling cost.
pub(super) fn build_sampler(
    p: &SamplingParams,
    model: &LlamaModel,
    n_ctx: usize,
    prompt: &[LlamaToken],
) -> LlamaSampler {
    let mut chain = Vec::new();
    let last_n = match p.repeat_last_n {
        n if n < 0 => n_ctx as i32,
        n => n,
    };
    let penalties_on = last_n > 0
        && (p.repeat_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0);
    if penalties_on {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            last_n,
            p.repeat_penalty,
            p.frequency_penalty,
            p.presence_penalty,
        ));
    }
    if p.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if p.top_k > 0 {
            chain.push(LlamaSampler::top_k(p.top_k));
        }
        if p.typical_p < 1.0 {
            chain.push(LlamaSampler::typical(p.typical_p, 1));
        }
        if p.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(p.top_p, 1));
        }
        if p.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(p.min_p, 1));
        }
        chain.push(LlamaSampler::temp(p.temperature));
        let seed = if p.seed < 0 {
            rand::random::<u32>()
        } else {
            p.seed as u32
        };
        chain.push(LlamaSampler::dist(seed));
    }
    let mut sampler = LlamaSampler::chain_simple(chain);
    if penalties_on {
        // Penalties see the end of the prompt, as llama-server feeds it.
        let start = prompt.len().saturating_sub(last_n as usize);
        sampler.accept_many(&prompt[start..]);
    }
    sampler
}
