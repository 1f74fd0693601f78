#!/usr/bin/env python3
"""Train and export tiny-shapes-flow: a small rectified-flow (flow-matching) transformer in the SD3 layout.

It draws what tiny-shapes draws (one shape of one colour on a plain background, 64x64) in tiny-shapes'
latent space: the data, the tokenizer and the autoencoder are tiny-shapes' own (imported from
../tiny-shapes/train.py; the shipped VAE encoder's weights are loaded back from its ONNX file, frozen, and
the shipped decoder is copied as it is). What is new is an SD3-style denoiser:

  text_encoder, text_encoder_2  two small CLIP-like causal encoders (CLIPTextModelWithProjection outputs:
                                text_embeds, last_hidden_state, hidden_states.0..N); SD3 conditions on their
                                penultimate states side by side (64 + 64 = joint_attention_dim 128) and on
                                their projected end-of-text states (pooled, 64 + 64)
  text_encoder_3                absent, as SD3 allows: the pipeline puts 77 zero positions in its place
  transformer                   MMDiT: image tokens (1x1 patches of the 8x8x4 latents) and text tokens in
                                separate streams joined in each block's attention, adaLN-zero modulation by
                                timestep and pooled text; SD3Transformer2DModel's I/O

Objective: rectified flow, x_s = (1 - s) x0 + s noise, the transformer predicts noise - x0 at timestep
s * 1000; s logit-normal (0, 1), shifted by the scheduler's shift; 10% caption dropout (the empty prompt)
for classifier-free guidance; EMA of the weights. Checkpoints go to .work/ and a run resumes from them.

  /usr/bin/python3 models/tiny-shapes-flow/train.py --stage all      # train, then export
  /usr/bin/python3 models/tiny-shapes-flow/train.py --stage export   # export the last checkpoint's EMA
  # a fine phase resumed from the last checkpoint: constant learning rate, every checkpoint kept by step
  /usr/bin/python3 models/tiny-shapes-flow/train.py --stage train --steps 4000 --lr 1e-4 --lr-schedule constant \
      --keep-checkpoints
"""

import argparse
import importlib.util
import json
import math
import os
import shutil
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES_DIR = os.path.join(HERE, "..", "tiny-shapes")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Imported by path: this file is also named train.py, so a plain import would find itself.
T = _load("tiny_shapes_train", os.path.join(SHAPES_DIR, "train.py"))
sys.path.insert(0, SHAPES_DIR)
from onnx_weights import load_onnx_weights  # noqa: E402

LATENT_CH, LATENT, MAX_LEN = T.LATENT_CH, T.LATENT, T.MAX_LEN
CLIP_DIM = 64  # each text encoder's width; joint_attention_dim = 2 * CLIP_DIM (no T5)
JOINT = 2 * CLIP_DIM
POOLED = 2 * CLIP_DIM
TEXT_TOKENS = 16  # CLIP positions the transformer reads: a caption takes 9 (start, 7 words, end)
WIDTH, DEPTH, HEADS = 128, 4, 4
SHIFT = 1.0  # the scheduler's static shift (8x8 latents: no resolution shift)
OPSET = 14


# ----------------------------------------------------------------------------------------------
# Text encoders: CLIPTextModelWithProjection's outputs
# ----------------------------------------------------------------------------------------------

class ClipWithProjection(nn.Module):
    """tiny-shapes' causal text encoder with every layer's states and a projected end-of-text state."""

    def __init__(self, vocab, layers=3):
        super().__init__()
        self.te = T.TextEncoder(vocab, dim=CLIP_DIM, layers=layers)
        self.projection = nn.Linear(CLIP_DIM, CLIP_DIM, bias=False)

    def states(self, input_ids):
        te = self.te
        x = te.tok(input_ids.long()) + te.pos
        hidden = [x]
        for blk in te.blocks:
            q, k, v = blk["qkv"](blk["ln1"](x)).chunk(3, dim=-1)
            x = x + blk["o"](T.attention(q, k, v, te.heads, te.mask))
            x = x + blk["ff"](blk["ln2"](x))
            hidden.append(x)
        last = te.ln(x)  # as transformers' CLIP: only last_hidden_state gets the final layer norm
        pooled = last[torch.arange(last.shape[0]), input_ids.long().argmax(dim=-1)]
        return self.projection(pooled), last, hidden

    def forward(self, input_ids):
        embeds, last, hidden = self.states(input_ids)
        return (embeds, last, *hidden)

    def conditioning(self, input_ids):
        """What StableDiffusion3Pipeline takes: the penultimate layer's states and text_embeds."""
        embeds, _, hidden = self.states(input_ids)
        return hidden[-2], embeds


# ----------------------------------------------------------------------------------------------
# MMDiT transformer
# ----------------------------------------------------------------------------------------------

def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class Stream(nn.Module):
    """One modality's weights in a joint block: adaLN modulation, qkv, output projection, MLP."""

    def __init__(self, d):
        super().__init__()
        self.ada = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)
        self.ln1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ln2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))


class JointBlock(nn.Module):
    """SD3's joint transformer block: both streams attend over the concatenated tokens."""

    def __init__(self, d=WIDTH, heads=HEADS):
        super().__init__()
        self.heads = heads
        self.img, self.txt = Stream(d), Stream(d)

    def forward(self, x, c, cond):
        n = x.shape[1]
        mods, qkvs = [], []
        for s, h in ((self.img, x), (self.txt, c)):
            m = s.ada(F.silu(cond)).chunk(6, dim=-1)
            mods.append(m)
            qkvs.append(s.qkv(modulate(s.ln1(h), m[0], m[1])))
        q, k, v = torch.cat(qkvs, dim=1).chunk(3, dim=-1)
        a = T.attention(q, k, v, self.heads)
        out = []
        for s, h, m, part in ((self.img, x, mods[0], a[:, :n]), (self.txt, c, mods[1], a[:, n:])):
            h = h + m[2][:, None] * s.o(part)
            h = h + m[5][:, None] * s.mlp(modulate(s.ln2(h), m[3], m[4]))
            out.append(h)
        return out[0], out[1]


class FlowTransformer(nn.Module):
    """SD3Transformer2DModel's I/O: hidden_states [B,4,8,8], encoder_hidden_states [B,154,128] (77 CLIP
    positions, then 77 zero positions for the absent T5), pooled_projections [B,128], timestep [B] (σ·1000)
    -> the velocity [B,4,8,8]. Patch size 1: each latent position is a token."""

    def __init__(self, d=WIDTH, depth=DEPTH):
        super().__init__()
        self.x_in = nn.Linear(LATENT_CH, d)
        self.pos = nn.Parameter(torch.randn(1, LATENT * LATENT, d) * 0.02)
        self.c_in = nn.Linear(JOINT, d)
        self.c_pos = nn.Parameter(torch.randn(1, TEXT_TOKENS, d) * 0.02)
        self.t_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.p_mlp = nn.Sequential(nn.Linear(POOLED, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList([JointBlock(d) for _ in range(depth)])
        self.final_ada = nn.Linear(d, 2 * d)
        self.final_ln = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.x_out = nn.Linear(d, LATENT_CH)
        for m in (self.final_ada, self.x_out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep):
        b, ch, h, w = hidden_states.shape
        x = self.x_in(hidden_states.flatten(2).transpose(1, 2)) + self.pos
        c = self.c_in(encoder_hidden_states[:, :TEXT_TOKENS]) + self.c_pos
        t = timestep.reshape(-1).float().expand(b)
        cond = self.t_mlp(T.timestep_embedding(t, 256)) + self.p_mlp(pooled_projections)
        for blk in self.blocks:
            x, c = blk(x, c, cond)
        shift, scale = self.final_ada(F.silu(cond)).chunk(2, dim=-1)
        x = self.x_out(modulate(self.final_ln(x), shift, scale))
        return x.transpose(1, 2).reshape(b, ch, h, w)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

def shipped_encoder():
    enc = T.Encoder()
    load_onnx_weights(enc, os.path.join(SHAPES_DIR, "vae_encoder", "model.onnx"), (torch.randn(1, 3, 64, 64),),
                      ["sample"], ["latent_parameters"])
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def sample_latents(enc, x):
    mean, logvar = enc(x).chunk(2, dim=1)
    return mean + torch.randn_like(mean) * torch.exp(0.5 * logvar.clamp(-30, 20))


def shifted(s, shift):
    return shift * s / (1 + (shift - 1) * s)


def text_conditioning(te1, te2, ids):
    h1, p1 = te1.conditioning(ids)
    h2, p2 = te2.conditioning(ids)
    hidden = torch.cat([h1, h2], dim=-1)
    # As the pipeline without T5: 77 CLIP positions then 77 zero positions.
    hidden = torch.cat([hidden, torch.zeros_like(hidden)], dim=1)
    return hidden, torch.cat([p1, p2], dim=-1)


def build(tok):
    torch.manual_seed(0)
    return ClipWithProjection(len(tok.vocab)), ClipWithProjection(len(tok.vocab)), FlowTransformer()


def prefixed(modules):
    return {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}


def learning_rate(args, step):
    """cosine: 100 warm-up steps, then cosine decay over --steps to a tenth of --lr; it follows --steps, so a
    resume with another --steps moves it. constant: --lr at every step, for a fine phase resumed from a
    checkpoint."""
    if args.lr_schedule == "constant":
        return args.lr
    return args.lr * min(1.0, step / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))


def train(args):
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    tok = T.SimpleTokenizer()
    enc = shipped_encoder()
    te1, te2, tr = build(tok)
    modules = {"te1": te1, "te2": te2, "tr": tr}
    params = [p for m in modules.values() for p in m.parameters()]
    print(f"transformer {sum(p.numel() for p in tr.parameters()) / 1e6:.2f}M, text encoders "
          f"{sum(p.numel() for p in te1.parameters()) * 2 / 1e6:.2f}M parameters", flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = {k: v.detach().clone() for k, v in prefixed(modules).items()}
    ckpt = os.path.join(args.work, "flow.pt")
    step0 = 0
    if os.path.exists(ckpt) and not args.restart:
        st = torch.load(ckpt)
        for name, m in modules.items():
            m.load_state_dict(st[name])
        opt.load_state_dict(st["opt"])
        ema, step0, scaling, shift_factor = st["ema"], st["step"], st["scaling"], st["shift_factor"]
        gen.set_state(st["gen"])
        torch.set_rng_state(st["rng"])
        print(f"resumed at step {step0}", flush=True)
    else:
        # SD3's VAE normalisation from the data: (z - shift_factor) * scaling_factor has mean 0, std 1.
        with torch.no_grad():
            zs = torch.cat([sample_latents(enc, T.make_batch(gen, 64)[0]) for _ in range(16)])
        shift_factor, scaling = float(zs.mean()), float(1 / zs.std())
    print(f"latents: shift_factor {shift_factor:.5f}, scaling_factor {scaling:.5f}", flush=True)
    # Every step encodes the 54 captions and the empty prompt once; a batch indexes into them.
    captions = [T.caption(c, s, b) for c in T.COLOR_NAMES for s in T.SHAPES for b in T.BG_NAMES]
    row = {c: i for i, c in enumerate(captions)}
    all_ids = tok.batch(captions + [""])
    empty = len(captions)
    start = time.time()
    for step in range(step0 + 1, args.steps + 1):
        lr = learning_rate(args, step)
        for g in opt.param_groups:
            g["lr"] = lr
        x, caps = T.make_batch(gen, args.batch)
        with torch.no_grad():
            z0 = (sample_latents(enc, x) - shift_factor) * scaling
        idx = torch.tensor([row[c] for c in caps])
        idx[torch.rand(len(caps), generator=gen) < args.caption_dropout] = empty
        hidden, pooled = text_conditioning(te1, te2, all_ids)
        s = shifted(torch.sigmoid(torch.randn(len(caps), generator=gen)), SHIFT)
        noise = torch.randn(z0.shape, generator=gen)
        sv = s.view(-1, 1, 1, 1)
        xt = (1 - sv) * z0 + sv * noise
        pred = tr(xt, hidden[idx], pooled[idx], s * 1000)
        loss = F.mse_loss(pred, noise - z0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in prefixed(modules).items():
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        if step % 25 == 0 or step == step0 + 1:
            el = time.time() - start
            done = step - step0
            print(f"step {step}/{args.steps} loss {loss.item():.4f} lr {lr:.2e} {el / done:.2f}s/step "
                  f"elapsed {el / 60:.1f}min eta {(args.steps - step) * el / done / 60:.1f}min", flush=True)
        if step % args.ckpt_every == 0 or step == args.steps:
            st = {name: m.state_dict() for name, m in modules.items()}
            st.update({"opt": opt.state_dict(), "ema": ema, "step": step, "scaling": scaling,
                       "shift_factor": shift_factor, "gen": gen.get_state(), "rng": torch.get_rng_state()})
            torch.save(st, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
            if args.keep_checkpoints:
                shutil.copyfile(ckpt, os.path.join(args.work, f"flow-{step}.pt"))
    print(f"training done in {(time.time() - start) / 60:.1f} min", flush=True)


# ----------------------------------------------------------------------------------------------
# Export (Optimum's StableDiffusion3Pipeline ONNX layout)
# ----------------------------------------------------------------------------------------------

def export_onnx(model, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, args, path, opset_version=OPSET, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes)


def export(args):
    out = args.out
    tok = T.SimpleTokenizer()
    te1, te2, tr = build(tok)
    st = torch.load(args.checkpoint or os.path.join(args.work, "flow.pt"))
    for name, m in (("te1", te1), ("te2", te2), ("tr", tr)):
        m.load_state_dict({k[len(name) + 1:]: v for k, v in st["ema"].items() if k.startswith(name + ".")})
        m.eval()
    print(f"exporting EMA weights of step {st['step']}", flush=True)
    for sub in ("tokenizer", "tokenizer_2"):
        tok.save(os.path.join(out, sub))
    layers = len(te1.te.blocks)
    names = ["text_embeds", "last_hidden_state", *[f"hidden_states.{i}" for i in range(layers + 1)]]
    ids = tok.batch(["a red circle on a white background"] * 2)
    for sub, te in (("text_encoder", te1), ("text_encoder_2", te2)):
        export_onnx(te, (ids,), os.path.join(out, sub, "model.onnx"), ["input_ids"], names,
                    {"input_ids": {0: "batch_size"}, **{n: {0: "batch_size"} for n in names}})
        T.write_json(os.path.join(out, sub, "config.json"), {
            "_class_name": "CLIPTextModelWithProjection", "architectures": ["CLIPTextModelWithProjection"],
            "hidden_size": CLIP_DIM, "projection_dim": CLIP_DIM, "num_hidden_layers": layers,
            "num_attention_heads": te.te.heads, "max_position_embeddings": MAX_LEN, "vocab_size": len(tok.vocab),
            "bos_token_id": tok.bos, "eos_token_id": tok.eos, "pad_token_id": tok.eos})
    z = torch.randn(2, LATENT_CH, LATENT, LATENT)
    export_onnx(tr, (z, torch.randn(2, 2 * MAX_LEN, JOINT), torch.randn(2, POOLED), torch.tensor([1000.0, 1000.0])),
                os.path.join(out, "transformer", "model.onnx"),
                ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], ["out_hidden_states"],
                {"hidden_states": {0: "batch_size"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                 "pooled_projections": {0: "batch_size"}, "timestep": {0: "step"},
                 "out_hidden_states": {0: "batch_size"}})
    T.write_json(os.path.join(out, "transformer", "config.json"), {
        "_class_name": "SD3Transformer2DModel", "sample_size": LATENT, "patch_size": 1, "in_channels": LATENT_CH,
        "out_channels": LATENT_CH, "num_layers": DEPTH, "attention_head_dim": WIDTH // HEADS,
        "num_attention_heads": HEADS, "joint_attention_dim": JOINT, "pooled_projection_dim": POOLED,
        "caption_projection_dim": WIDTH})
    os.makedirs(os.path.join(out, "vae_decoder"), exist_ok=True)
    shutil.copyfile(os.path.join(SHAPES_DIR, "vae_decoder", "model.onnx"), os.path.join(out, "vae_decoder", "model.onnx"))
    with open(os.path.join(SHAPES_DIR, "vae_decoder", "config.json")) as f:
        vae_cfg = json.load(f)
    vae_cfg.update({"scaling_factor": round(st["scaling"], 6), "shift_factor": round(st["shift_factor"], 6)})
    T.write_json(os.path.join(out, "vae_decoder", "config.json"), vae_cfg)
    T.write_json(os.path.join(out, "scheduler", "scheduler_config.json"), {
        "_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": SHIFT,
        "use_dynamic_shifting": False})
    none = [None, None]
    T.write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.31.0", "_name_or_path": "tiny-shapes-flow",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "text_encoder_3": none,
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "tokenizer_3": none, "transformer": ["diffusers", "SD3Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs
                if ".work" not in d and f.endswith((".onnx", ".json", ".txt")))
    print(f"exported to {out}: {total / 1e6:.1f} MB", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=["train", "export", "all"], default="all")
    p.add_argument("--work", default=os.path.join(HERE, ".work"))
    p.add_argument("--out", default=HERE)
    p.add_argument("--seed", type=int, default=4321)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine",
                   help="constant: --lr throughout, for a fine phase resumed from a checkpoint")
    p.add_argument("--ema", type=float, default=0.995)
    p.add_argument("--caption-dropout", type=float, default=0.1)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="also keep each checkpoint as flow-<step>.pt, to pick one by its adherence")
    p.add_argument("--checkpoint", help="export: this checkpoint file instead of --work's flow.pt")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    os.makedirs(args.work, exist_ok=True)
    if args.stage in ("train", "all"):
        train(args)
    if args.stage in ("export", "all"):
        export(args)


if __name__ == "__main__":
    main()
