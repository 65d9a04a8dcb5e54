"""Writes a tiny LLaVA-style vision projector GGUF with random weights for the test model
(Gemma 3 270M, text width 640), so the vision plumbing can be tested where no real vision model
can be downloaded: a 2-block ViT over 28x28 images in 14x14 patches (4 image tokens), then
llama.cpp's `mlp` projector (`mm.0`, GELU, `mm.2`) to the text model's 640.

usage: make_projector.py OUT.gguf [SEED]
"""
import sys

import numpy as np
import gguf

out = sys.argv[1]
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
IMAGE, PATCH, EMBD, FF, BLOCKS, HEADS, HIDDEN, TEXT = 28, 14, 32, 64, 2, 2, 64, 640
N_POS = (IMAGE // PATCH) ** 2

w = gguf.GGUFWriter(out, "clip")
w.add_type("mmproj")
w.add_name("rollama test projector")
w.add_string("clip.projector_type", "mlp")
w.add_bool("clip.has_vision_encoder", True)
w.add_bool("clip.has_text_encoder", False)
w.add_bool("clip.use_gelu", True)
w.add_uint32("clip.vision.image_size", IMAGE)
w.add_uint32("clip.vision.patch_size", PATCH)
w.add_uint32("clip.vision.embedding_length", EMBD)
w.add_uint32("clip.vision.feed_forward_length", FF)
w.add_uint32("clip.vision.block_count", BLOCKS)
w.add_uint32("clip.vision.projection_dim", TEXT)
w.add_uint32("clip.vision.attention.head_count", HEADS)
w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])


def t(name, *shape, scale=0.2):
    w.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))


def ones(name, n):
    w.add_tensor(name, np.ones(n, dtype=np.float32))


def zeros(name, n):
    w.add_tensor(name, np.zeros(n, dtype=np.float32))


# numpy shapes are (out, in); GGUF stores them reversed, as ggml expects.
t("v.patch_embd.weight", EMBD, 3, PATCH, PATCH)
zeros("v.patch_embd.bias", EMBD)
t("v.position_embd.weight", N_POS, EMBD)
ones("v.pre_ln.weight", EMBD)
zeros("v.pre_ln.bias", EMBD)
for i in range(BLOCKS):
    for part in ("attn_q", "attn_k", "attn_v", "attn_out"):
        t(f"v.blk.{i}.{part}.weight", EMBD, EMBD)
        zeros(f"v.blk.{i}.{part}.bias", EMBD)
    for ln in ("ln1", "ln2"):
        ones(f"v.blk.{i}.{ln}.weight", EMBD)
        zeros(f"v.blk.{i}.{ln}.bias", EMBD)
    t(f"v.blk.{i}.ffn_up.weight", FF, EMBD)
    zeros(f"v.blk.{i}.ffn_up.bias", FF)
    t(f"v.blk.{i}.ffn_down.weight", EMBD, FF)
    zeros(f"v.blk.{i}.ffn_down.bias", EMBD)
t("mm.0.weight", HIDDEN, EMBD)
zeros("mm.0.bias", HIDDEN)
# Large enough that the image changes what the text model says next.
t("mm.2.weight", TEXT, HIDDEN, scale=2.0)
zeros("mm.2.bias", TEXT)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
