//! Sampling for the slot loop: the sampler chain in llama.cpp's default order, sampling under a
//! grammar at the cost of one token check in the common case, a shortlist of candidates so a
//! chain that starts with top-k never copies and sorts the whole vocabulary, and
//! log-probabilities.

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

/// Every token with its logit, unsorted: what a sampler chain starts from.
pub(super) fn whole_vocabulary(logits: &[f32]) -> LlamaTokenDataArray {
    LlamaTokenDataArray::from_iter(
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
        false,
    )
}

/// What `llama_sampler_sample` does, over logits rollama computed: the chain applied to the
/// whole vocabulary, its choice accepted.
pub(super) fn sample_all(chain: &mut LlamaSampler, logits: &[f32], eos: LlamaToken) -> LlamaToken {
    let mut all = whole_vocabulary(logits);
    chain.apply(&mut all);
    let token = all.selected_token().unwrap_or(eos);
    chain.accept(token);
    token
}

/// Samples under a grammar the way llama.cpp's common sampler does, so the grammar costs little:
/// the token the sampler picks freely is kept when the grammar allows it (checking one token is
/// cheap); only otherwise is the grammar applied to the whole vocabulary before sampling again.
pub(super) fn sample_constrained(
    chain: &mut LlamaSampler,
    grammar: &mut LlamaSampler,
    logits: &[f32],
    eos: LlamaToken,
) -> LlamaToken {
    let all = || whole_vocabulary(logits);
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
    let last_n = penalty_window(p, n_ctx);
    if last_n > 0 {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            last_n as i32,
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
    if last_n > 0 {
        // Penalties see the end of the prompt, as llama-server feeds it.
        let start = prompt.len().saturating_sub(last_n);
        sampler.accept_many(&prompt[start..]);
    }
    sampler
}

/// The tokens the repetition penalties look back over (`repeat_last_n`, -1 = the context); 0
/// when no penalty is set, and the chain has no penalties stage.
fn penalty_window(p: &SamplingParams, n_ctx: usize) -> usize {
    let penalties =
        p.repeat_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0;
    match p.repeat_last_n {
        _ if !penalties => 0,
        n if n < 0 => n_ctx,
        n => n as usize,
    }
}

/// When a chain begins with (penalties and) top-k or greedy, what it can pick is decided by a
/// shortlist: the `k` highest logits among tokens the penalties leave alone, plus every token
/// in the penalty window. The chain then runs over those instead of 262k entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shortlist {
    /// top_k, or 1 for greedy.
    pub k: usize,
    /// The penalties' window (`repeat_last_n`), 0 without penalties.
    pub last_n: usize,
}

impl Shortlist {
    /// The shortlist for `p`, if its chain allows one (top-k on, or greedy).
    pub fn for_params(p: &SamplingParams, n_ctx: usize) -> Option<Shortlist> {
        let last_n = penalty_window(p, n_ctx);
        let k = if p.temperature <= 0.0 {
            1
        } else if p.top_k > 0 {
            p.top_k as usize
        } else {
            return None;
        };
        Some(Shortlist { k, last_n })
    }

    /// The candidates from `logits`, given the tokens the chain accepted so far: the prompt's,
    /// then the generated ones.
    pub fn candidates(
        &self,
        logits: &[f32],
        prompt: &[LlamaToken],
        generated: &[LlamaToken],
    ) -> LlamaTokenDataArray {
        let from_generated = generated.len().min(self.last_n);
        let from_prompt = (self.last_n - from_generated).min(prompt.len());
        let mut window: Vec<i32> = prompt[prompt.len() - from_prompt..]
            .iter()
            .chain(&generated[generated.len() - from_generated..])
            .map(|t| t.0)
            .filter(|&t| t >= 0 && (t as usize) < logits.len())
            .collect();
        window.sort_unstable();
        window.dedup();
        // The k best of the rest: a small buffer, replacing its minimum.
        let k = self.k.max(1);
        let mut best: Vec<(f32, i32)> = Vec::with_capacity(k);
        let mut min_at = 0;
        // Once the buffer is full, only a logit above its minimum gets in: whole chunks below
        // it are skipped with a comparison the compiler vectorises.
        let mut floor = f32::NEG_INFINITY;
        const CHUNK: usize = 64;
        for (c, chunk) in logits.chunks(CHUNK).enumerate() {
            if best.len() == k && !chunk.iter().fold(false, |any, &l| any | (l > floor)) {
                continue;
            }
            for (j, &l) in chunk.iter().enumerate() {
                let i = c * CHUNK + j;
                if best.len() == k && l <= floor {
                    continue;
                }
                if l.is_nan() || window.binary_search(&(i as i32)).is_ok() {
                    continue;
                }
                if best.len() < k {
                    best.push((l, i as i32));
                } else {
                    best[min_at] = (l, i as i32);
                }
                if best.len() == k {
                    min_at = (0..k)
                        .min_by(|&a, &b| best[a].0.total_cmp(&best[b].0))
                        .unwrap_or(0);
                    floor = best[min_at].0;
                }
            }
        }
        let data = window
            .iter()
            .map(|&t| LlamaTokenData::new(LlamaToken(t), logits[t as usize], 0.0))
            .chain(
                best.into_iter()
                    .map(|(l, t)| LlamaTokenData::new(LlamaToken(t), l, 0.0)),
            )
            .collect();
        LlamaTokenDataArray::new(data, false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chain(greedy: bool, seed: u32) -> LlamaSampler {
        let mut c = vec![LlamaSampler::penalties(N, 64, 1.3, 0.2, 0.1)];
        if greedy {
            c.push(LlamaSampler::greedy());
        } else {
            c.push(LlamaSampler::top_k(40));
            c.push(LlamaSampler::top_p(0.9, 1));
            c.push(LlamaSampler::temp(0.8));
            c.push(LlamaSampler::dist(seed));
        }
        LlamaSampler::chain_simple(c)
    }

    const N: i32 = 5000;

    #[test]
    fn the_shortlist_picks_what_the_whole_vocabulary_picks() {
        let mut rng = 12345u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((rng >> 33) as f32 / (1u64 << 31) as f32) * 20.0 - 10.0
        };
        for greedy in [true, false] {
            let (mut full, mut short) = (chain(greedy, 7), chain(greedy, 7));
            let list = Shortlist {
                k: if greedy { 1 } else { 40 },
                last_n: 64,
            };
            let mut history: Vec<LlamaToken> = Vec::new();
            for step in 0..300 {
                let mut logits: Vec<f32> = (0..N).map(|_| next()).collect();
                // Make recent tokens likely, so the penalties decide.
                for t in history.iter().rev().take(8) {
                    logits[t.0 as usize] += 12.0;
                }
                let mut all = whole_vocabulary(&logits);
                full.apply(&mut all);
                let a = all.selected_token().unwrap();
                // The history split anywhere between prompt and generated gives the same.
                let (prompt, generated) = history.split_at(history.len() / 3);
                let mut few = list.candidates(&logits, prompt, generated);
                short.apply(&mut few);
                let b = few.selected_token().unwrap();
                assert_eq!(a, b, "step {step}, greedy {greedy}");
                full.accept(a);
                short.accept(b);
                history.push(a);
            }
        }
    }
}
