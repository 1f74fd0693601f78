#!/usr/bin/env python3
"""Train and export tiny-shapes: a small text-to-image latent diffusion model.

The model has the same parts, tensor names and file layout as a diffusers/Optimum ONNX export of
Stable Diffusion (CLIP-format BPE tokenizer, text encoder, UNet with cross-attention, KL VAE with
8x down-sampling), so the engine loads it through the same code path as a real export.

Data is procedural: a shape (circle, square, triangle) of one colour on a uniform background of another.

Stages (each resumable; checkpoints go to --work, exports to --out):
  vae     train the KL autoencoder 64x64x3 <-> 8x8x4
  unet    train the text encoder and the UNet (epsilon prediction, scaled_linear betas, caption dropout)
  decoder fine-tune the VAE decoder with the encoder frozen (same latent space, truer colours)
  export  write the ONNX files and configs (EMA weights of the last UNet checkpoint)
Fine-tuning the shipped export (no training checkpoints needed: the parts are loaded from the ONNX files in
--base; the VAE encoder, and so the latent space, never changes):
  finetune-decoder  sharper corners and straight edges: edge-weighted and image-gradient losses, latents
                    jittered so that the decoder also draws clean shapes from the UNet's imperfect latents
  finetune-unet     more UNet steps at a lower learning rate with EMA (text encoder frozen); options weigh the
                    late timesteps and squares more and add a loss on the decoded clean-latent estimate
  then: --stage export --finetuned (exports the shipped parts with the fine-tuned ones in their place)

Re-run everything (Debian 12: apt-get install python3-torch libopenblas0-pthread):
  /usr/bin/python3 models/tiny-shapes/train.py --stage all
Micro models with random weights in the I/O conventions of other exports (int64 ids and timesteps, a
scalar timestep, float16 I/O, an LCM timestep_cond), used as test fixtures:
  /usr/bin/python3 models/tiny-shapes/train.py --stage fixtures --out test/fixtures/models
An untrained export of the same architecture, for engine development, takes seconds:
  /usr/bin/python3 models/tiny-shapes/train.py --stage export --untrained --out /tmp/tiny-untrained
"""

import argparse
import json
import math
import os
import time

# torch parallelises over the batch itself; OpenBLAS's own spinning threads on top of that oversubscribe
# a small machine (measured here: ~3x slower steps, a third of the CPU time spent in the kernel).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

COLORS = {
    "red": (230, 30, 30),
    "green": (30, 180, 30),
    "blue": (30, 60, 230),
    "yellow": (240, 220, 20),
    "purple": (150, 40, 190),
    "orange": (250, 140, 20),
}
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128)}
SHAPES = ["circle", "square", "triangle"]
COLOR_NAMES = list(COLORS)
BG_NAMES = list(BACKGROUNDS)
IMAGE = 64
LATENT = 8
LATENT_CH = 4
MAX_LEN = 77
TEXT_DIM = 64
T_TRAIN = 1000
BETA_START, BETA_END = 0.00085, 0.012


def caption(color: str, shape: str, bg: str) -> str:
    return f"a {color} {shape} on a {bg} background"


# ----------------------------------------------------------------------------------------------
# Procedural data
# ----------------------------------------------------------------------------------------------

def render(kind, size, x0, y0, fg, bg, ss=2):
    """Images (float in [-1,1], NCHW) of shapes (0 circle, 1 square, 2 triangle) in boxes of `size` px at
    (x0, y0), colours fg on bg (0-255, [n,3]), edges anti-aliased by ss x ss super-sampling."""
    n = kind.shape[0]
    res = IMAGE * ss
    coords = (torch.arange(res, dtype=torch.float32) + 0.5) / ss
    yy = coords.view(1, res, 1)
    xx = coords.view(1, 1, res)
    s = size.view(n, 1, 1)
    bx = x0.view(n, 1, 1)
    by = y0.view(n, 1, 1)
    cx, cy = bx + s / 2, by + s / 2
    circle = (xx - cx) ** 2 + (yy - cy) ** 2 <= (s / 2) ** 2
    square = ((xx - cx).abs() <= s / 2) & ((yy - cy).abs() <= s / 2)
    triangle = (yy >= by) & (yy <= by + s) & ((xx - cx).abs() <= (yy - by) / 2)
    kind = kind.view(n, 1, 1)
    mask = torch.where(kind == 0, circle, torch.where(kind == 1, square, triangle)).float()
    mask = F.avg_pool2d(mask.unsqueeze(1), ss)  # n,1,64,64 coverage
    img = bg.view(n, 3, 1, 1) * (1 - mask) + fg.view(n, 3, 1, 1) * mask
    return img / 127.5 - 1


def make_batch(gen: torch.Generator, n: int, ss: int = 2, shape_weights=None):
    """Render n images (float in [-1,1], NCHW) with 2x2 super-sampled edges, and their labels.
    `shape_weights` (one per SHAPES entry) skews the shape mix; by default the shapes are equally likely."""
    ci = torch.randint(0, len(COLORS), (n,), generator=gen)
    bi = torch.randint(0, len(BACKGROUNDS), (n,), generator=gen)
    if shape_weights is None:
        si = torch.randint(0, len(SHAPES), (n,), generator=gen)
    else:
        si = torch.multinomial(torch.tensor(shape_weights, dtype=torch.float32), n, replacement=True, generator=gen)
    size = 20 + torch.rand(n, generator=gen) * 20
    x0 = 4 + torch.rand(n, generator=gen) * (IMAGE - 8 - size)
    y0 = 4 + torch.rand(n, generator=gen) * (IMAGE - 8 - size)
    fg = torch.tensor([COLORS[c] for c in COLOR_NAMES], dtype=torch.float32)[ci]
    fg = (fg + (torch.rand(n, 3, generator=gen) - 0.5) * 24).clamp(0, 255)
    bg = torch.tensor([BACKGROUNDS[b] for b in BG_NAMES], dtype=torch.float32)[bi]
    img = render(si, size, x0, y0, fg, bg, ss)
    caps = [caption(COLOR_NAMES[c], SHAPES[k], BG_NAMES[b]) for c, k, b in zip(ci.tolist(), si.tolist(), bi.tolist())]
    return img, caps


# ----------------------------------------------------------------------------------------------
# CLIP-format BPE tokenizer built from the caption vocabulary
# ----------------------------------------------------------------------------------------------

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def bpe_apply(word, ranks):
    word = list(word)
    while len(word) > 1:
        pairs = [(ranks.get((word[i], word[i + 1]), math.inf), i) for i in range(len(word) - 1)]
        best, _ = min(pairs)
        if best == math.inf:
            break
        a, b = [p for p in ranks if ranks[p] == best][0]
        out, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def build_tokenizer():
    words = sorted({w for c in COLORS for s in SHAPES for b in BACKGROUNDS for w in caption(c, s, b).split()})
    b2u = bytes_to_unicode()
    base = list(b2u.values())
    vocab_list = base + [c + "</w>" for c in base]
    merges = []
    ranks = {}
    for w in words:
        symbols = list(w[:-1]) + [w[-1] + "</w>"]
        while True:
            cur = bpe_apply(symbols, ranks)
            if len(cur) == 1:
                break
            pair = (cur[0], cur[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            if pair[0] + pair[1] not in vocab_list:
                vocab_list.append(pair[0] + pair[1])
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    return vocab, merges, ranks


class SimpleTokenizer:
    def __init__(self):
        self.vocab, self.merges, self.ranks = build_tokenizer()
        self.bos = self.vocab["<|startoftext|>"]
        self.eos = self.vocab["<|endoftext|>"]
        self.cache = {}

    def encode(self, text: str):
        ids = [self.bos]
        for w in text.lower().split():
            if w not in self.cache:
                symbols = list(w[:-1]) + [w[-1] + "</w>"]
                self.cache[w] = [self.vocab[t] for t in bpe_apply(symbols, self.ranks)]
            ids += self.cache[w]
        ids = ids[: MAX_LEN - 1] + [self.eos]
        return ids + [self.eos] * (MAX_LEN - len(ids))  # SD 1.x pads with end-of-text

    def batch(self, texts):
        return torch.tensor([self.encode(t) for t in texts], dtype=torch.int64)

    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w") as f:
            json.dump(self.vocab, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")
        special = {
            "bos_token": "<|startoftext|>",
            "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
        }
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump(special, f, indent=2)
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_LEN, "do_lower_case": True, **special}, f, indent=2)


# ----------------------------------------------------------------------------------------------
# Networks (attention written out so torch 1.13 exports it to ONNX)
# ----------------------------------------------------------------------------------------------

def gn(c):
    return nn.GroupNorm(8 if c % 8 == 0 else 1, c)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb=0):
        super().__init__()
        self.n1, self.c1 = gn(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = gn(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout) if temb else None
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, t=None):
        h = self.c1(F.silu(self.n1(x)))
        if self.t is not None:
            h = h + self.t(F.silu(t))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


def attention(q, k, v, heads, mask=None):
    b, n, d = q.shape
    m = k.shape[1]
    hd = d // heads
    q = q.reshape(b, n, heads, hd).transpose(1, 2)
    k = k.reshape(b, m, heads, hd).transpose(1, 2)
    v = v.reshape(b, m, heads, hd).transpose(1, 2)
    w = torch.matmul(q, k.transpose(-1, -2)) * (hd ** -0.5)
    if mask is not None:
        w = w + mask
    w = torch.softmax(w, dim=-1)
    return torch.matmul(w, v).transpose(1, 2).reshape(b, n, d)


class CrossAttnBlock(nn.Module):
    """Self-attention, cross-attention on the text states, feed-forward: the SD transformer block."""

    def __init__(self, c, ctx, heads=4):
        super().__init__()
        self.heads = heads
        self.norm = gn(c)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.ln1, self.qkv = nn.LayerNorm(c), nn.Linear(c, 3 * c, bias=False)
        self.o1 = nn.Linear(c, c)
        self.ln2, self.q2 = nn.LayerNorm(c), nn.Linear(c, c, bias=False)
        self.kv2 = nn.Linear(ctx, 2 * c, bias=False)
        self.o2 = nn.Linear(c, c)
        self.ln3 = nn.LayerNorm(c)
        self.ff = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        r = x
        x = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.o1(attention(q, k, v, self.heads))
        k2, v2 = self.kv2(ctx).chunk(2, dim=-1)
        x = x + self.o2(attention(self.q2(self.ln2(x)), k2, v2, self.heads))
        x = x + self.ff(self.ln3(x))
        x = x.transpose(1, 2).reshape(b, c, h, w)
        return r + self.proj_out(x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),  # 32x32
            ResBlock(64, 64),
            nn.Conv2d(64, 64, 3, stride=2, padding=1),  # 16x16
            ResBlock(64, 128),
            nn.Conv2d(128, 128, 3, stride=2, padding=1),  # 8x8
            ResBlock(128, 128),
            gn(128), nn.SiLU(), nn.Conv2d(128, 2 * LATENT_CH, 3, padding=1),
        )

    def forward(self, x):
        return self.net(x)  # mean and logvar, as Optimum's latent_parameters


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MidAttention(nn.Module):
    """Self-attention over the latent positions, as in SD's VAE mid block: every position sees where all of the
    shape lies, so the decoder can draw one straight side or one round outline for the whole of it. The output
    projection starts at zero, so a decoder grown from one without this block first draws exactly as it did."""

    def __init__(self, c, heads=4):
        super().__init__()
        self.heads = heads
        self.norm = gn(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=-1)
        a = attention(q, k, v, self.heads)
        return x + self.out(a.transpose(1, 2).reshape(b, c, h, w))


class Decoder(nn.Module):
    """The VAE decoder, 8x8x4 -> 64x64x3. With `mid`, an attention block and a residual block at 8x8 after the
    first residual block (both start as the identity)."""

    def __init__(self, c=(128, 64, 32), mid=False):
        super().__init__()
        a, b, d = c
        self.net = nn.Sequential(
            nn.Conv2d(LATENT_CH, a, 3, padding=1),
            ResBlock(a, a),
            Up(a),  # 16
            ResBlock(a, b),
            Up(b),  # 32
            ResBlock(b, b),
            Up(b),  # 64
            ResBlock(b, d),
            gn(d), nn.SiLU(), nn.Conv2d(d, 3, 3, padding=1),
        )
        self.mid = None
        if mid:
            res = ResBlock(a, a)
            nn.init.zeros_(res.c2.weight)
            nn.init.zeros_(res.c2.bias)
            self.mid = nn.Sequential(MidAttention(a), res)

    def forward(self, z):
        if self.mid is None:
            return self.net(z)
        return self.net[2:](self.mid(self.net[:2](z)))


class TextEncoder(nn.Module):
    """CLIP-like: token + position embeddings, causal pre-norm transformer, final layer norm."""

    def __init__(self, vocab_size, dim=TEXT_DIM, layers=2, heads=4):
        super().__init__()
        self.heads = heads
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(MAX_LEN, dim) * 0.01)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(dim), "qkv": nn.Linear(dim, 3 * dim), "o": nn.Linear(dim, dim),
                "ln2": nn.LayerNorm(dim), "ff": nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)),
            }))
        self.ln = nn.LayerNorm(dim)
        self.register_buffer("mask", torch.triu(torch.full((MAX_LEN, MAX_LEN), -1e9), diagonal=1))

    def forward(self, input_ids):
        x = self.tok(input_ids.long()) + self.pos
        for blk in self.blocks:
            q, k, v = blk["qkv"](blk["ln1"](x)).chunk(3, dim=-1)
            x = x + blk["o"](attention(q, k, v, self.heads, self.mask))
            x = x + blk["ff"](blk["ln2"](x))
        x = self.ln(x)
        pooled = x[torch.arange(x.shape[0]), input_ids.long().argmax(dim=-1)]  # end-of-text state, as CLIP
        return x, pooled


def timestep_embedding(t, dim=64):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


class UNet(nn.Module):
    def __init__(self, c0=64, c1=128, ctx=TEXT_DIM, temb=256, time_cond_proj_dim=0):
        super().__init__()
        self.t_mlp = nn.Sequential(nn.Linear(64, temb), nn.SiLU(), nn.Linear(temb, temb))
        # LCM-style guidance embedding input (timestep_cond), as guidance-distilled SD UNets have
        self.cond_proj = nn.Linear(time_cond_proj_dim, 64, bias=False) if time_cond_proj_dim else None
        self.conv_in = nn.Conv2d(LATENT_CH, c0, 3, padding=1)
        self.d0r, self.d0a = ResBlock(c0, c0, temb), CrossAttnBlock(c0, ctx)
        self.down = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.d1r, self.d1a = ResBlock(c0, c1, temb), CrossAttnBlock(c1, ctx)
        self.m1, self.ma, self.m2 = ResBlock(c1, c1, temb), CrossAttnBlock(c1, ctx), ResBlock(c1, c1, temb)
        self.u1r, self.u1a = ResBlock(c1 + c1, c1, temb), CrossAttnBlock(c1, ctx)
        self.up = Up(c1)
        self.u0r, self.u0a = ResBlock(c1 + c0, c0, temb), CrossAttnBlock(c0, ctx)
        self.out = nn.Sequential(gn(c0), nn.SiLU(), nn.Conv2d(c0, LATENT_CH, 3, padding=1))

    def forward(self, sample, timestep, encoder_hidden_states, timestep_cond=None):
        t = timestep.reshape(-1).float().expand(sample.shape[0])  # accepts [B], [1] or a scalar
        emb = timestep_embedding(t)
        if self.cond_proj is not None:
            emb = emb + self.cond_proj(timestep_cond)
        te = self.t_mlp(emb)
        ctx = encoder_hidden_states
        h = self.conv_in(sample)
        s0 = self.d0a(self.d0r(h, te), ctx)
        h = self.down(s0)
        s1 = self.d1a(self.d1r(h, te), ctx)
        h = self.m2(self.ma(self.m1(s1, te), ctx), te)
        h = self.u1a(self.u1r(torch.cat([h, s1], 1), te), ctx)
        h = self.up(h)
        h = self.u0a(self.u0r(torch.cat([h, s0], 1), te), ctx)
        return self.out(h)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

def alphas_cumprod():
    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, T_TRAIN, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def train_vae(args):
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    enc, dec = Encoder(), Decoder()
    params = list(enc.parameters()) + list(dec.parameters())
    print(f"vae: {sum(p.numel() for p in params) / 1e6:.2f}M parameters", flush=True)
    opt = torch.optim.Adam(params, lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.vae_steps, pct_start=0.05)
    start = time.time()
    for step in range(1, args.vae_steps + 1):
        x, _ = make_batch(gen, args.vae_batch)
        p = enc(x)
        mean, logvar = p.chunk(2, dim=1)
        logvar = logvar.clamp(-30, 20)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        rec = dec(z)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3)).mean()
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + args.kl_weight * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == 1:
            el = time.time() - start
            print(f"vae step {step}/{args.vae_steps} loss {loss.item():.4f} kl {kl.item():.1f} "
                  f"{el / step:.2f}s/step elapsed {el / 60:.1f}min", flush=True)
    # Scaling factor from the data, as SD's 0.18215: 1 / std of sampled latents
    with torch.no_grad():
        zs = []
        for _ in range(16):
            x, _ = make_batch(gen, 64)
            mean, logvar = enc(x).chunk(2, dim=1)
            zs.append(mean + torch.randn_like(mean) * torch.exp(0.5 * logvar.clamp(-30, 20)))
        scaling = float(1.0 / torch.cat(zs).std())
    print(f"vae done in {(time.time() - start) / 60:.1f} min, scaling_factor {scaling:.5f}", flush=True)
    torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), "scaling": scaling}, os.path.join(args.work, "vae.pt"))


def train_decoder(args):
    """Fine-tune the VAE decoder with the encoder frozen: sharper, truer colours, same latent space.

    The latent space (and so the UNet trained on it, and the scaling factor) does not change."""
    torch.manual_seed(args.seed + 2)
    gen = torch.Generator().manual_seed(args.seed + 2)
    path = os.path.join(args.work, "vae.pt")
    vae = torch.load(path)
    enc, dec = Encoder(), Decoder()
    enc.load_state_dict(vae["enc"])
    dec.load_state_dict(vae["dec"])
    enc.eval()
    opt = torch.optim.Adam(dec.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=args.decoder_steps, pct_start=0.05)
    start = time.time()
    for step in range(1, args.decoder_steps + 1):
        x, _ = make_batch(gen, args.vae_batch)
        with torch.no_grad():
            mean, logvar = enc(x).chunk(2, dim=1)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar.clamp(-30, 20))
        rec = dec(z)
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == 1:
            el = time.time() - start
            print(f"decoder step {step}/{args.decoder_steps} loss {loss.item():.4f} {el / step:.2f}s/step "
                  f"elapsed {el / 60:.1f}min", flush=True)
    vae["dec"] = dec.state_dict()
    torch.save(vae, path + ".tmp")
    os.replace(path + ".tmp", path)
    print(f"decoder done in {(time.time() - start) / 60:.1f} min", flush=True)


def train_unet(args):
    torch.manual_seed(args.seed + 1)
    gen = torch.Generator().manual_seed(args.seed + 1)
    vae = torch.load(os.path.join(args.work, "vae.pt"))
    enc = Encoder()
    enc.load_state_dict(vae["enc"])
    enc.eval()
    scaling = vae["scaling"]
    tok = SimpleTokenizer()
    te, unet = TextEncoder(len(tok.vocab)), UNet()
    params = list(te.parameters()) + list(unet.parameters())
    print(f"unet: {sum(p.numel() for p in unet.parameters()) / 1e6:.2f}M, text encoder: "
          f"{sum(p.numel() for p in te.parameters()) / 1e6:.2f}M parameters", flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = {k: v.detach().clone() for k, v in {**prefixed(te, "te."), **prefixed(unet, "unet.")}.items()}
    step0 = 0
    ckpt = os.path.join(args.work, "unet.pt")
    if os.path.exists(ckpt) and not args.restart:
        st = torch.load(ckpt)
        te.load_state_dict(st["te"])
        unet.load_state_dict(st["unet"])
        opt.load_state_dict(st["opt"])
        ema = st["ema"]
        step0 = st["step"]
        gen.set_state(st["gen"])
        torch.set_rng_state(st["rng"])
        print(f"resumed at step {step0}", flush=True)
    ac = alphas_cumprod()
    snr = ac / (1 - ac)
    uncond = tok.encode("")
    start = time.time()
    for step in range(step0 + 1, args.unet_steps + 1):
        lr = args.lr * min(1.0, step / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.unet_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, caps = make_batch(gen, args.unet_batch)
        with torch.no_grad():
            mean, logvar = enc(x).chunk(2, dim=1)
            z0 = (mean + torch.randn_like(mean) * torch.exp(0.5 * logvar.clamp(-30, 20))) * scaling
        ids = tok.batch(caps)
        drop = torch.rand(len(caps), generator=gen) < args.caption_dropout
        ids[drop] = torch.tensor(uncond)
        t = torch.randint(0, T_TRAIN, (len(caps),), generator=gen)
        noise = torch.randn(z0.shape, generator=gen)
        a = ac[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        ctx, _ = te(ids)
        pred = unet(zt, t.float(), ctx)
        w = torch.clamp(snr[t], max=5.0) / snr[t]  # min-SNR weighting for epsilon prediction
        loss = (w * ((pred - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in {**prefixed(te, "te."), **prefixed(unet, "unet.")}.items():
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        if step % 50 == 0 or step == step0 + 1:
            el = time.time() - start
            done = step - step0
            print(f"unet step {step}/{args.unet_steps} loss {loss.item():.4f} lr {lr:.2e} "
                  f"{el / done:.2f}s/step elapsed {el / 60:.1f}min eta {(args.unet_steps - step) * el / done / 60:.1f}min",
                  flush=True)
        if step % args.ckpt_every == 0 or step == args.unet_steps:
            torch.save({"te": te.state_dict(), "unet": unet.state_dict(), "opt": opt.state_dict(), "ema": ema,
                        "step": step, "gen": gen.get_state(), "rng": torch.get_rng_state()}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
    print(f"unet done in {(time.time() - start) / 60:.1f} min", flush=True)


def prefixed(module, prefix):
    return {prefix + k: v for k, v in module.state_dict().items()}


# ----------------------------------------------------------------------------------------------
# Fine-tuning the shipped export
# ----------------------------------------------------------------------------------------------

def _example_ids():
    return SimpleTokenizer().batch(["a red circle on a white background"]).to(torch.int32)


def load_shipped(base, parts):
    """The shipped ONNX parts named in `parts` as torch modules (see onnx_weights.py), and the scaling factor."""
    from onnx_weights import load_onnx_weights

    z = torch.randn(2, LATENT_CH, LATENT, LATENT)
    out = {}
    if "enc" in parts:
        out["enc"] = load_onnx_weights(Encoder(), os.path.join(base, "vae_encoder", "model.onnx"),
                                       (torch.randn(1, 3, IMAGE, IMAGE),), ["sample"], ["latent_parameters"])
    if "dec" in parts:
        out["dec"] = shipped_decoder(os.path.join(base, "vae_decoder", "model.onnx"))
    if "te" in parts:
        out["te"] = load_onnx_weights(TextEncoder(len(SimpleTokenizer().vocab)),
                                      os.path.join(base, "text_encoder", "model.onnx"), (_example_ids(),),
                                      ["input_ids"], ["last_hidden_state", "pooler_output"])
    if "unet" in parts:
        out["unet"] = load_onnx_weights(UNet(), os.path.join(base, "unet", "model.onnx"),
                                        (z, torch.tensor([999.0, 999.0]), torch.randn(2, MAX_LEN, TEXT_DIM)),
                                        ["sample", "timestep", "encoder_hidden_states"], ["out_sample"])
    with open(os.path.join(base, "vae_decoder", "config.json")) as f:
        out["scaling"] = json.load(f)["scaling_factor"]
    return out


def shipped_decoder(path):
    """The decoder of an export, with the mid block when the export has one (the clean-decoder stage's)."""
    from onnx_weights import load_onnx_weights

    z = torch.randn(2, LATENT_CH, LATENT, LATENT)
    try:
        return load_onnx_weights(Decoder(mid=True), path, (z,), ["latent_sample"], ["sample"])
    except ValueError:
        return load_onnx_weights(Decoder(), path, (z,), ["latent_sample"], ["sample"])


def edge_weights(x):
    """1 on flat colour, 1 + 4 within a pixel of an edge of the target (where shapes lose their corners)."""
    gx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().amax(dim=1, keepdim=True)
    gy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().amax(dim=1, keepdim=True)
    edge = F.pad(gx, (0, 1, 0, 0)) + F.pad(gx, (1, 0, 0, 0)) + F.pad(gy, (0, 0, 0, 1)) + F.pad(gy, (0, 0, 1, 0))
    edge = F.max_pool2d((edge > 0.1).float(), 3, stride=1, padding=1)
    return 1 + 4 * edge


def gradient_loss(rec, x):
    """L1 between the images' finite differences: penalises blurred, bowed or rounded edges directly."""
    return (F.l1_loss(rec[:, :, :, 1:] - rec[:, :, :, :-1], x[:, :, :, 1:] - x[:, :, :, :-1])
            + F.l1_loss(rec[:, :, 1:, :] - rec[:, :, :-1, :], x[:, :, 1:, :] - x[:, :, :-1, :]))


def euler_schedule(steps=20):
    """The timesteps and sigmas (one more, 0, at the end) of the engine's default Euler, linspace spacing."""
    ts = np.linspace(0, T_TRAIN - 1, steps)[::-1].copy()
    ac = alphas_cumprod().double()
    return ts, np.interp(ts, np.arange(T_TRAIN), ((1 - ac) / ac).sqrt().numpy()).tolist() + [0.0]


def euler_from(unet, z, start, ctx, uctx, guidance, steps=20):
    """Samples with classifier-free guidance from step `start` of the Euler schedule on: returns z0."""
    ts, sig = euler_schedule(steps)
    for i in range(start, steps):
        inp = z / math.sqrt(sig[i] ** 2 + 1)
        t = torch.full((z.shape[0],), float(ts[i]))
        eu, ec = unet(torch.cat([inp, inp]), torch.cat([t, t]), torch.cat([uctx, ctx])).chunk(2)
        z = z + (sig[i + 1] - sig[i]) * (eu + guidance * (ec - eu))
    return z


def sampled_latents(args, parts, gen):
    """Latents as the UNet draws them, each paired with the clean image it should decode to.

    A clean image's latent is noised to step 8-12 of the 20-step Euler schedule (t 580-370) and sampled
    from there with guidance 3-5: the UNet keeps the shape, place and colour, but its last steps draw
    circles as rounded diamonds and squares with bowed sides (measured: they arise in those steps), so
    the decoder learns to draw the intended clean shape from the UNet's latents. Cached in --work."""
    path = os.path.join(args.work, "sampled-latents.pt")
    if os.path.exists(path):
        return torch.load(path)
    enc, te, unet, scaling = parts["enc"], parts["te"], parts["unet"], parts["scaling"]
    tok = SimpleTokenizer()
    xs, zs = [], []
    start = time.time()
    with torch.no_grad():
        uctx1, _ = te(tok.batch([""]).to(torch.int32))
        for b in range(args.sampled_latents // 64):
            x, caps = make_batch(gen, 64)
            ctx, _ = te(tok.batch(caps).to(torch.int32))
            mean, _ = enc(x).chunk(2, dim=1)
            k = int(torch.randint(8, 13, (1,), generator=gen))
            guidance = 3 + 2 * float(torch.rand(1, generator=gen))
            z = mean * scaling + euler_schedule()[1][k] * torch.randn(mean.shape, generator=gen)
            z = euler_from(unet, z, k, ctx, uctx1.expand(64, -1, -1), guidance)
            xs.append(x)
            zs.append(z / scaling)
            print(f"sampled latents {64 * (b + 1)}/{args.sampled_latents} {(time.time() - start) / 60:.1f}min", flush=True)
    pool = {"x": torch.cat(xs), "z": torch.cat(zs)}
    torch.save(pool, path + ".tmp")
    os.replace(path + ".tmp", path)
    return pool


def foreground(img):
    """Pixels clearly away from the image's top-left corner colour (the background), as a bool mask."""
    return (img - img[:, :, :2, :2].mean(dim=(2, 3), keepdim=True)).abs().amax(dim=1) > 0.45


def clean_targets(pool, dec):
    """For each UNet latent, the clean shape drawn where the UNet put it: the class and colours of the image
    it was sampled from, the box of what the shipped decoder draws from it. The UNet may move or resize the
    shape a little while it sampled; learning the original image would teach the decoder to blur. Latents
    whose drawing is no box-shaped blob roughly overlapping the original are left out."""
    x = pool["x"]
    with torch.no_grad():
        drawn = foreground(dec(pool["z"]))
    orig = foreground(x)
    ys, xs = torch.meshgrid(torch.arange(IMAGE), torch.arange(IMAGE), indexing="ij")
    keep, kinds, sizes, x0s, y0s = [], [], [], [], []
    for i in range(x.shape[0]):
        m, o = drawn[i], orig[i]
        if m.sum() < 50:
            continue
        bx0, bx1, by0, by1 = xs[m].min(), xs[m].max() + 1, ys[m].min(), ys[m].max() + 1
        w, h = float(bx1 - bx0), float(by1 - by0)
        ow, oh = float(xs[o].max() + 1 - xs[o].min()), float(ys[o].max() + 1 - ys[o].min())
        iou = float((m & o).sum()) / float((m | o).sum())
        if not (0.8 <= w / h <= 1.25) or iou < 0.5:
            continue
        fill = float(o.sum()) / (ow * oh)
        kinds.append(1 if fill > 0.9 else 2 if fill < 0.65 else 0)
        size = (w + h) / 2
        sizes.append(size)
        x0s.append((float(bx0) + float(bx1)) / 2 - size / 2)
        y0s.append((float(by0) + float(by1)) / 2 - size / 2)
        keep.append(i)
    keep_t = torch.tensor(keep)
    xk = x[keep_t]
    bg = (xk[:, :, :2, :2].mean(dim=(2, 3)) + 1) * 127.5
    inside = orig[keep_t]
    fg = torch.stack([((xk[j] + 1) * 127.5)[:, inside[j]].median(dim=1).values for j in range(len(keep))])
    target = render(torch.tensor(kinds), torch.tensor(sizes), torch.tensor(x0s), torch.tensor(y0s), fg, bg)
    print(f"clean targets for {len(keep)} of {x.shape[0]} UNet latents", flush=True)
    return {"x": target, "z": pool["z"][keep_t]}


def jittered_latents(enc, x, gen, jitter, scaling):
    """The encoder's latents of `x`, sampled from its mean and log-variance, then moved by a random share of
    up to `jitter` of the latents' spread (1 / scaling), so the decoder learns a neighbourhood, not points."""
    mean, logvar = enc(x).chunk(2, dim=1)
    z = mean + torch.randn(mean.shape, generator=gen) * torch.exp(0.5 * logvar.clamp(-30, 20))
    amount = torch.rand(z.shape[0], 1, 1, 1, generator=gen) * jitter / scaling
    return z + amount * torch.randn(z.shape, generator=gen)


def decoder_step(dec, opt, x, z):
    """One step of the decoder towards drawing `x` from `z`: L1 + MSE weighted along the target's edges, and
    the images' gradients matched, so corners stay sharp and sides straight. Returns the loss."""
    rec = dec(z)
    err = (rec - x).abs() + (rec - x) ** 2
    loss = (edge_weights(x) * err).mean() + gradient_loss(rec, x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


class FinetuneRun:
    """The bookkeeping both fine-tune stages share: resuming from their checkpoint, the EMA of the trained
    module's weights, a progress line every 25 steps and a resumable checkpoint every --ckpt-every steps.
    With `keep`, each checkpoint's EMA weights are also kept under their own name (`<ckpt>-step<N>.pt`), so
    that an earlier step can be exported if it turns out better."""

    def __init__(self, name, key, module, opt, gen, args, steps, keep=False):
        self.name, self.key, self.module, self.opt, self.gen = name, key, module, opt, gen
        self.decay, self.ckpt_every, self.steps, self.keep = args.ft_ema, args.ckpt_every, steps, keep
        self.ckpt = os.path.join(args.work, f"{name}.pt")
        self.ema = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.step0 = 0
        if os.path.exists(self.ckpt) and not args.restart:
            st = torch.load(self.ckpt)
            module.load_state_dict(st[key])
            opt.load_state_dict(st["opt"])
            self.ema, self.step0 = st["ema"], st["step"]
            gen.set_state(st["gen"])
            torch.set_rng_state(st["rng"])
            print(f"resumed at step {self.step0}", flush=True)
        self.start = time.time()

    def after_step(self, step, loss, lr):
        with torch.no_grad():
            for k, v in self.module.state_dict().items():
                self.ema[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
        if step % 25 == 0 or step == self.step0 + 1:
            el = time.time() - self.start
            done = step - self.step0
            print(f"{self.name} step {step}/{self.steps} loss {loss.item():.4f} lr {lr:.2e} {el / done:.2f}s/step "
                  f"elapsed {el / 60:.1f}min eta {(self.steps - step) * el / done / 60:.1f}min", flush=True)
        if step % self.ckpt_every == 0 or step == self.steps:
            torch.save({self.key: self.module.state_dict(), "opt": self.opt.state_dict(), "ema": self.ema,
                        "step": step, "gen": self.gen.get_state(), "rng": torch.get_rng_state()}, self.ckpt + ".tmp")
            os.replace(self.ckpt + ".tmp", self.ckpt)
            if self.keep:
                torch.save({"ema": self.ema, "step": step}, f"{self.ckpt[:-3]}-step{step}.pt")

    def done(self):
        print(f"{self.name} done in {(time.time() - self.start) / 60:.1f} min", flush=True)


def finetune_decoder(args):
    """Fine-tune the shipped decoder for clean geometry, the encoder frozen (the latent space stays).

    Half of each batch is the encoder's latents (jittered by up to --latent-jitter of their spread), half
    the UNet's own latents of clean images (sampled_latents, with clean_targets), so that the decoder draws clean shapes from
    what the UNet produces and still reconstructs what the encoder produces. The loss weights the pixels
    along the target's edges and matches its gradients, so corners stay sharp and sides straight."""
    gen = torch.Generator().manual_seed(args.seed + 3)
    torch.manual_seed(args.seed + 3)
    # The text encoder and UNet are needed only to draw the UNet latents (cached in --work once drawn).
    cached = os.path.exists(os.path.join(args.work, "sampled-latents.pt"))
    parts = load_shipped(args.base, ("enc", "dec") if cached else ("enc", "dec", "te", "unet"))
    for m in parts.values():
        if isinstance(m, nn.Module):
            m.eval()
    enc, dec, scaling = parts["enc"], parts["dec"], parts["scaling"]
    pool = clean_targets(sampled_latents(args, parts, torch.Generator().manual_seed(args.seed + 5)), dec)
    dec.train()
    opt = torch.optim.Adam(dec.parameters(), lr=args.ft_lr)
    steps = args.ft_decoder_steps
    run = FinetuneRun("finetune-decoder", "dec", dec, opt, gen, args, steps)
    half = args.vae_batch // 2
    for step in range(run.step0 + 1, steps + 1):
        lr = args.ft_lr * min(1.0, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, _ = make_batch(gen, args.vae_batch - half)
        with torch.no_grad():
            z = jittered_latents(enc, x, gen, args.latent_jitter, scaling)
            pick = torch.randint(0, pool["x"].shape[0], (half,), generator=gen)
            x = torch.cat([x, pool["x"][pick]])
            z = torch.cat([z, pool["z"][pick]])
        run.after_step(step, decoder_step(dec, opt, x, z), lr)
    run.done()


def finetune_unet(args):
    """More UNet training from the shipped weights: lower learning rate, EMA, min-SNR, text encoder frozen.

    Aimed at the late (low-noise) steps, where the UNet bows squares' sides and rounds their corners: a share
    of each batch (--ft-late-share) draws its timestep below --ft-late-t, the shape mix can favour squares
    (--ft-shape-weights), and with --ft-x0-weight those late samples also pay for what the shipped decoder
    (frozen) draws from the UNet's own estimate of the clean latent, compared with the clean render with the
    edge-weighted and image-gradient losses of the decoder stage."""
    gen = torch.Generator().manual_seed(args.seed + 4)
    torch.manual_seed(args.seed + 4)
    x0_weight = args.ft_x0_weight
    parts = load_shipped(args.base, ("enc", "te", "unet", "dec") if x0_weight > 0 else ("enc", "te", "unet"))
    enc, te, unet, scaling = parts["enc"], parts["te"], parts["unet"], parts["scaling"]
    dec = parts.get("dec")
    for m in (enc, te, dec):
        if m is not None:
            m.eval()
            m.requires_grad_(False)
    unet.train()
    tok = SimpleTokenizer()
    opt = torch.optim.AdamW(unet.parameters(), lr=args.ft_lr, weight_decay=0.01)
    steps = args.ft_unet_steps
    run = FinetuneRun("finetune-unet", "unet", unet, opt, gen, args, steps, keep=True)
    shape_weights = [float(w) for w in args.ft_shape_weights.split(",")] if args.ft_shape_weights else None
    ac = alphas_cumprod()
    snr = ac / (1 - ac)
    uncond = tok.encode("")
    warmup = max(1, min(50, steps // 10))
    for step in range(run.step0 + 1, steps + 1):
        lr = args.ft_lr * min(1.0, step / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, caps = make_batch(gen, args.unet_batch, shape_weights=shape_weights)
        ids = tok.batch(caps)
        drop = torch.rand(len(caps), generator=gen) < args.caption_dropout
        ids[drop] = torch.tensor(uncond)
        with torch.no_grad():
            mean, logvar = enc(x).chunk(2, dim=1)
            z0 = (mean + torch.randn(mean.shape, generator=gen) * torch.exp(0.5 * logvar.clamp(-30, 20))) * scaling
            ctx, _ = te(ids)
        n_late = int(round(len(caps) * args.ft_late_share))
        t = torch.cat([torch.randint(0, args.ft_late_t, (n_late,), generator=gen),
                       torch.randint(0, T_TRAIN, (len(caps) - n_late,), generator=gen)])
        noise = torch.randn(z0.shape, generator=gen)
        a = ac[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        pred = unet(zt, t.float(), ctx)
        w = torch.clamp(snr[t], max=args.ft_min_snr) / snr[t]
        loss = (w * ((pred - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        if dec is not None and n_late > 0:
            # The UNet's estimate of the clean latent at the late timesteps, as the decoder draws it.
            late = slice(0, n_late)
            z0_hat = (zt[late] - (1 - a[late]).sqrt() * pred[late]) / a[late].sqrt()
            img = dec(z0_hat / scaling)
            err = (img - x[late]).abs() + (img - x[late]) ** 2
            loss = loss + x0_weight * ((edge_weights(x[late]) * err).mean() + gradient_loss(img, x[late]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        run.after_step(step, loss, lr)
    run.done()


# ----------------------------------------------------------------------------------------------
# Export (diffusers / Optimum ONNX layout)
# ----------------------------------------------------------------------------------------------

def model_latents(path):
    """Latents a bundled model drew (scripts/shapes-latents.ts: PATH.f32 and PATH.json), as the decoder gets
    them, and the scene each was asked for."""
    with open(path + ".json") as f:
        meta = json.load(f)
    n = meta["shape"][0]
    z = torch.from_numpy(np.fromfile(path + ".f32", dtype=np.float32).reshape(n, LATENT_CH, LATENT, LATENT))
    return z, meta["rows"]


# The fill of its bounding box that a drawing must have to be taken for the shape its caption asks for: clean
# renders fill 0.71-0.85 (circle), 0.99-1 (square), 0.50-0.57 (triangle); a model's drawing is rougher.
DRAWN_FILL = {0: (0.6, 0.92), 1: (0.78, 1.0), 2: (0.38, 0.75)}


def drawn_targets(z, rows, dec):
    """For each of a model's latents, the clean shape its caption asks for, drawn where the model put it: in the
    box, and with the colours, of what `dec` draws from the latent. A latent whose drawing is not one shape of
    about the caption's fill is left out, so that the decoder is never taught to turn one shape into another."""
    with torch.no_grad():
        px = (torch.cat([dec(z[i:i + 64]) for i in range(0, len(z), 64)]).clamp(-1, 1) + 1) * 127.5
    border = torch.cat([px[:, :, :2].flatten(2), px[:, :, -2:].flatten(2), px[:, :, :, :2].flatten(2),
                        px[:, :, :, -2:].flatten(2)], dim=2)
    bg = border.median(dim=2).values
    mask = ((px - bg[:, :, None, None]).abs().amax(dim=1, keepdim=True) > 60).float()
    # An opening (erode, then dilate) drops specks, which would stretch the box.
    mask = F.max_pool2d(-F.max_pool2d(-mask, 3, 1, 1), 3, 1, 1)[:, 0] > 0.5
    keep, kinds, sizes, x0s, y0s, fgs = [], [], [], [], [], []
    for i, row in enumerate(rows):
        m = mask[i]
        if m.sum() < 100:
            continue
        ys, xs = torch.nonzero(m, as_tuple=True)
        w, h = float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)
        kind = SHAPES.index(row["scene"]["shape"])
        lo, hi = DRAWN_FILL[kind]
        if not (0.8 <= w / h <= 1.25 and lo <= float(m.sum()) / (w * h) <= hi):
            continue
        size = (w + h) / 2
        keep.append(i)
        kinds.append(kind)
        sizes.append(size)
        x0s.append(float(xs.min()) + w / 2 - size / 2)
        y0s.append(float(ys.min()) + h / 2 - size / 2)
        fgs.append(px[i][:, m].median(dim=1).values)
    keep_t = torch.tensor(keep)
    target = render(torch.tensor(kinds), torch.tensor(sizes), torch.tensor(x0s), torch.tensor(y0s), torch.stack(fgs),
                    bg[keep_t])
    print(f"clean targets for {len(keep)} of {len(rows)} latents", flush=True)
    return {"x": target, "z": z[keep_t]}


def clean_decoder(args):
    """Grow the shipped decoder a mid block (attention over the 8x8 positions) and train it to draw clean shapes
    from what the bundled models draw, the encoder frozen: the latent space, the scaling factors, the UNet and
    the flow transformer stay as they are.

    A third of each batch is the encoder's (jittered) latents of fresh renders, so reconstruction stays true;
    the rest comes from the models' own latents (--latents: files of scripts/shapes-latents.ts, e.g. one of
    tiny-shapes and one of tiny-shapes-flow), each paired with its clean target (drawn_targets). The loss weights
    the pixels along the target's edges and matches its gradients, so corners stay sharp and sides straight."""
    gen = torch.Generator().manual_seed(args.seed + 7)
    torch.manual_seed(args.seed + 7)
    parts = load_shipped(args.base, ("enc", "dec"))
    enc, shipped, scaling = parts["enc"], parts["dec"], parts["scaling"]
    enc.eval()
    shipped.eval()
    pools = [drawn_targets(*model_latents(path), shipped) for path in args.latents.split(",")]
    pool = {k: torch.cat([p[k] for p in pools]) for k in ("x", "z")}
    # Each latent's chance to be drawn: --latent-weights shares the draws between the files (equal shares
    # by default), so a model whose shapes come out worse can be given more of them.
    shares = [float(w) for w in args.latent_weights.split(",")] if args.latent_weights else [1.0] * len(pools)
    if len(shares) != len(pools):
        raise SystemExit("--latent-weights needs one weight per --latents file")
    draw = torch.cat([torch.full((len(p["z"]),), w / len(p["z"])) for p, w in zip(pools, shares)])
    dec = Decoder(mid=True)
    missing = dec.load_state_dict(shipped.state_dict(), strict=False).missing_keys
    print(f"decoder: {sum(p.numel() for p in dec.parameters())} parameters, {len(missing)} new tensors", flush=True)
    dec.train()
    opt = torch.optim.Adam(dec.parameters(), lr=args.ft_lr)
    steps = args.ft_decoder_steps
    run = FinetuneRun("clean-decoder", "dec", dec, opt, gen, args, steps, keep=True)
    own = args.vae_batch // 3
    for step in range(run.step0 + 1, steps + 1):
        lr = args.ft_lr * min(1.0, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, _ = make_batch(gen, own)
        with torch.no_grad():
            z = jittered_latents(enc, x, gen, args.latent_jitter, scaling)
            pick = torch.multinomial(draw, args.vae_batch - own, replacement=True, generator=gen)
            x = torch.cat([x, pool["x"][pick]])
            z = torch.cat([z, pool["z"][pick]])
        run.after_step(step, decoder_step(dec, opt, x, z), lr)
    run.done()


def export_decoder(args):
    """Export the clean-decoder stage's EMA weights (or --decoder-checkpoint's) as the vae_decoder of tiny-shapes
    and of tiny-shapes-flow, which shares its latent space; each keeps its own config.json."""
    st = torch.load(args.decoder_checkpoint or os.path.join(args.work, "clean-decoder.pt"))
    dec = Decoder(mid=True)
    dec.load_state_dict(st["ema"])
    dec.eval()
    print(f"exporting the clean decoder: EMA weights of step {st['step']}", flush=True)
    z = torch.randn(2, LATENT_CH, LATENT, LATENT)
    for folder in (args.out, os.path.join(os.path.dirname(args.out), "tiny-shapes-flow")):
        with torch.no_grad():
            torch.onnx.export(dec, (z,), os.path.join(folder, "vae_decoder", "model.onnx"), opset_version=14,
                              input_names=["latent_sample"], output_names=["sample"],
                              dynamic_axes={"latent_sample": {0: "batch", 2: "height", 3: "width"},
                                            "sample": {0: "batch", 2: "height", 3: "width"}})
        print(f"wrote {folder}/vae_decoder/model.onnx", flush=True)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def export(args):
    out = args.out
    tok = SimpleTokenizer()
    te, unet, enc, dec = TextEncoder(len(tok.vocab)), UNet(), Encoder(), Decoder()
    scaling = 0.18215
    if args.finetuned:
        # The shipped parts, with the EMA weights of each fine-tuned part that has a checkpoint in their place.
        parts = load_shipped(args.base, ("enc", "dec", "te", "unet"))
        te, unet, enc, dec, scaling = parts["te"], parts["unet"], parts["enc"], parts["dec"], parts["scaling"]
        for name, module in (("decoder", dec), ("unet", unet)):
            path = os.path.join(args.work, f"finetune-{name}.pt")
            if name == "unet" and args.unet_checkpoint:
                path = args.unet_checkpoint
            if os.path.exists(path):
                st = torch.load(path)
                module.load_state_dict(st["ema"])
                print(f"exporting the fine-tuned {name}: EMA weights of step {st['step']}", flush=True)
    elif not args.untrained:
        vae = torch.load(os.path.join(args.work, "vae.pt"))
        enc.load_state_dict(vae["enc"])
        dec.load_state_dict(vae["dec"])
        scaling = vae["scaling"]
        st = torch.load(os.path.join(args.work, "unet.pt"))
        ema = st["ema"]
        te.load_state_dict({k[3:]: v for k, v in ema.items() if k.startswith("te.")})
        unet.load_state_dict({k[5:]: v for k, v in ema.items() if k.startswith("unet.")})
        print(f"exporting EMA weights of step {st['step']}", flush=True)
    for m in (te, unet, enc, dec):
        m.eval()
    tok.save(os.path.join(out, "tokenizer"))
    opset = 14
    ids = tok.batch(["a red circle on a white background"]).to(torch.int32)
    with torch.no_grad():
        os.makedirs(os.path.join(out, "text_encoder"), exist_ok=True)
        torch.onnx.export(te, (ids,), os.path.join(out, "text_encoder", "model.onnx"), opset_version=opset,
                          input_names=["input_ids"], output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes={"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"},
                                        "pooler_output": {0: "batch"}})
        os.makedirs(os.path.join(out, "unet"), exist_ok=True)
        z = torch.randn(2, LATENT_CH, LATENT, LATENT)
        torch.onnx.export(unet, (z, torch.tensor([999.0, 999.0]), torch.randn(2, MAX_LEN, TEXT_DIM)),
                          os.path.join(out, "unet", "model.onnx"), opset_version=opset,
                          input_names=["sample", "timestep", "encoder_hidden_states"], output_names=["out_sample"],
                          dynamic_axes={"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "steps"},
                                        "encoder_hidden_states": {0: "batch"},
                                        "out_sample": {0: "batch", 2: "height", 3: "width"}})
        os.makedirs(os.path.join(out, "vae_decoder"), exist_ok=True)
        torch.onnx.export(dec, (z,), os.path.join(out, "vae_decoder", "model.onnx"), opset_version=opset,
                          input_names=["latent_sample"], output_names=["sample"],
                          dynamic_axes={"latent_sample": {0: "batch", 2: "height", 3: "width"},
                                        "sample": {0: "batch", 2: "height", 3: "width"}})
        os.makedirs(os.path.join(out, "vae_encoder"), exist_ok=True)
        torch.onnx.export(enc, (torch.randn(1, 3, IMAGE, IMAGE),), os.path.join(out, "vae_encoder", "model.onnx"),
                          opset_version=opset, input_names=["sample"], output_names=["latent_parameters"],
                          dynamic_axes={"sample": {0: "batch", 2: "height", 3: "width"},
                                        "latent_parameters": {0: "batch", 2: "height", 3: "width"}})
    vae_cfg = {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": LATENT_CH,
               "block_out_channels": [32, 64, 64, 128], "sample_size": IMAGE, "scaling_factor": round(scaling, 6)}
    write_json(os.path.join(out, "vae_decoder", "config.json"), vae_cfg)
    write_json(os.path.join(out, "vae_encoder", "config.json"), vae_cfg)
    write_json(os.path.join(out, "text_encoder", "config.json"), {
        "_class_name": "CLIPTextModel", "architectures": ["CLIPTextModel"], "hidden_size": TEXT_DIM,
        "num_hidden_layers": len(te.blocks), "num_attention_heads": te.heads, "max_position_embeddings": MAX_LEN,
        "vocab_size": len(tok.vocab), "bos_token_id": tok.bos, "eos_token_id": tok.eos, "pad_token_id": tok.eos})
    write_json(os.path.join(out, "unet", "config.json"), {
        "_class_name": "UNet2DConditionModel", "in_channels": LATENT_CH, "out_channels": LATENT_CH,
        "sample_size": LATENT, "cross_attention_dim": TEXT_DIM, "block_out_channels": [64, 128],
        "time_cond_proj_dim": None})
    write_json(os.path.join(out, "scheduler", "scheduler_config.json"), {
        "_class_name": "EulerDiscreteScheduler", "num_train_timesteps": T_TRAIN, "beta_start": BETA_START,
        "beta_end": BETA_END, "beta_schedule": "scaled_linear", "prediction_type": "epsilon",
        "timestep_spacing": "linspace", "steps_offset": 1, "set_alpha_to_one": False, "clip_sample": False,
        "interpolation_type": "linear", "use_karras_sigmas": False, "trained_betas": None})
    write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": "0.30.0", "_name_or_path": "tiny-shapes",
        "requires_safety_checker": False, "feature_extractor": [None, None], "safety_checker": [None, None],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_decoder": ["diffusers", "OnnxRuntimeModel"], "vae_encoder": ["diffusers", "OnnxRuntimeModel"]})
    parts = ("model_index.json", "tokenizer", "text_encoder", "unet", "vae_decoder", "vae_encoder", "scheduler")
    total = sum(os.path.getsize(os.path.join(d, f)) for p in parts for d, _, fs in os.walk(os.path.join(out, p))
                for f in fs) + os.path.getsize(os.path.join(out, "model_index.json"))
    print(f"exported to {out}: {total / 1e6:.1f} MB", flush=True)


# ----------------------------------------------------------------------------------------------
# Test fixtures: micro models (random weights, same architecture) in the I/O conventions real exports use
# ----------------------------------------------------------------------------------------------

class UNetIO(nn.Module):
    """Presents the UNet with another export's input conventions (dtypes, timestep shape)."""

    def __init__(self, unet, fp16):
        super().__init__()
        self.unet, self.fp16 = unet, fp16

    def forward(self, sample, timestep, encoder_hidden_states, timestep_cond=None):
        out = self.unet(sample.float(), timestep.float(), encoder_hidden_states.float(),
                        None if timestep_cond is None else timestep_cond.float())
        return out.half() if self.fp16 else out


class HalfIO(nn.Module):
    def __init__(self, inner, cast_in=True):
        super().__init__()
        self.inner, self.cast_in = inner, cast_in

    def forward(self, x):
        out = self.inner(x.float() if self.cast_in else x)
        if isinstance(out, tuple):
            return tuple(o.half() for o in out)
        return out.half()


FIXTURE_VARIANTS = {
    # name: (input_ids dtype, timestep dtype, timestep shape, fp16 I/O, LCM timestep_cond)
    "reference": (torch.int32, torch.float32, "batch", False, False),
    "int64": (torch.int64, torch.int64, "batch", False, False),
    "scalar-timestep": (torch.int64, torch.float32, "scalar", False, False),
    "fp16-io": (torch.int32, torch.float16, "batch", True, False),
    "lcm": (torch.int64, torch.float32, "batch", False, True),
}


def export_fixtures(args):
    torch.manual_seed(args.seed)
    tok = SimpleTokenizer()
    te, dec = TextEncoder(len(tok.vocab), dim=32, layers=1), Decoder((32, 16, 16))
    base = UNet(c0=16, c1=32, ctx=32, temb=64)
    lcm = UNet(c0=16, c1=32, ctx=32, temb=64, time_cond_proj_dim=32)
    lcm.load_state_dict(base.state_dict(), strict=False)
    for m in (te, dec, base, lcm):
        m.eval()
    for name, (ids_t, ts_t, ts_shape, fp16, is_lcm) in FIXTURE_VARIANTS.items():
        out = os.path.join(args.out, name)
        tok.save(os.path.join(out, "tokenizer"))
        ids = tok.batch(["a red circle on a white background"]).to(ids_t)
        fdt = torch.float16 if fp16 else torch.float32
        z = torch.randn(2, LATENT_CH, LATENT, LATENT).to(fdt)
        ts = torch.tensor(999, dtype=ts_t) if ts_shape == "scalar" else torch.tensor([999, 999], dtype=ts_t)
        ctx = torch.randn(2, MAX_LEN, 32).to(fdt)
        unet = UNetIO(lcm if is_lcm else base, fp16)
        names = ["sample", "timestep", "encoder_hidden_states"]
        inputs = (z, ts, ctx)
        dyn = {"sample": {0: "batch", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch"},
               "out_sample": {0: "batch", 2: "height", 3: "width"}}
        if ts_shape == "batch":
            dyn["timestep"] = {0: "batch"}
        if is_lcm:
            names.append("timestep_cond")
            inputs = inputs + (torch.randn(2, 32).to(fdt),)
            dyn["timestep_cond"] = {0: "batch"}
        with torch.no_grad():
            for sub in ("text_encoder", "unet", "vae_decoder"):
                os.makedirs(os.path.join(out, sub), exist_ok=True)
            te_m = HalfIO(te, cast_in=False) if fp16 else te
            torch.onnx.export(te_m, (ids,), os.path.join(out, "text_encoder", "model.onnx"), opset_version=14,
                              input_names=["input_ids"], output_names=["last_hidden_state", "pooler_output"],
                              dynamic_axes={"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"},
                                            "pooler_output": {0: "batch"}})
            torch.onnx.export(unet, inputs, os.path.join(out, "unet", "model.onnx"), opset_version=14,
                              input_names=names, output_names=["out_sample"], dynamic_axes=dyn)
            dec_m = HalfIO(dec) if fp16 else dec
            torch.onnx.export(dec_m, (z,), os.path.join(out, "vae_decoder", "model.onnx"), opset_version=14,
                              input_names=["latent_sample"], output_names=["sample"],
                              dynamic_axes={"latent_sample": {0: "batch", 2: "height", 3: "width"},
                                            "sample": {0: "batch", 2: "height", 3: "width"}})
        write_json(os.path.join(out, "vae_decoder", "config.json"),
                   {"_class_name": "AutoencoderKL", "latent_channels": LATENT_CH,
                    "block_out_channels": [16, 16, 16, 32], "scaling_factor": 0.5})
        write_json(os.path.join(out, "unet", "config.json"),
                   {"_class_name": "UNet2DConditionModel", "sample_size": LATENT, "cross_attention_dim": 32,
                    "time_cond_proj_dim": 32 if is_lcm else None})
        sched = {"_class_name": "LCMScheduler" if is_lcm else "PNDMScheduler", "num_train_timesteps": T_TRAIN,
                 "beta_start": BETA_START, "beta_end": BETA_END, "beta_schedule": "scaled_linear",
                 "steps_offset": 1, "set_alpha_to_one": False, "skip_prk_steps": True, "clip_sample": False}
        write_json(os.path.join(out, "scheduler", "scheduler_config.json"), sched)
        write_json(os.path.join(out, "model_index.json"), {
            "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": "0.30.0",
            "scheduler": ["diffusers", sched["_class_name"]], "text_encoder": ["diffusers", "OnnxRuntimeModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "OnnxRuntimeModel"],
            "vae_decoder": ["diffusers", "OnnxRuntimeModel"]})
        print(f"fixture {name} written to {out}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=["vae", "unet", "decoder", "export", "all", "fixtures", "finetune-decoder",
                                       "finetune-unet", "clean-decoder", "export-decoder"], default="all")
    p.add_argument("--base", default=HERE, help="the export that fine-tuning and --finetuned start from")
    p.add_argument("--finetuned", action="store_true", help="export: the --base parts with the fine-tuned ones")
    p.add_argument("--ft-decoder-steps", type=int, default=1200)
    p.add_argument("--ft-unet-steps", type=int, default=800)
    p.add_argument("--ft-lr", type=float, default=2e-4)
    p.add_argument("--ft-ema", type=float, default=0.99)
    p.add_argument("--ft-late-share", type=float, default=0.0,
                   help="finetune-unet: share of each batch with timesteps below --ft-late-t")
    p.add_argument("--ft-late-t", type=int, default=300, help="finetune-unet: the late timesteps' bound")
    p.add_argument("--ft-min-snr", type=float, default=5.0, help="finetune-unet: min-SNR loss weighting's gamma")
    p.add_argument("--ft-shape-weights", default="", help="finetune-unet: circle,square,triangle weights, e.g. 1,2,1")
    p.add_argument("--ft-x0-weight", type=float, default=0.0,
                   help="finetune-unet: weight of the decoded-estimate image loss at the late timesteps")
    p.add_argument("--latents", default="",
                   help="clean-decoder: comma-separated latent files of scripts/shapes-latents.ts (without .f32)")
    p.add_argument("--latent-weights", default="",
                   help="clean-decoder: comma-separated share of the draws for each --latents file (equal by default)")
    p.add_argument("--decoder-checkpoint", default="", help="export-decoder: this checkpoint instead of the last")
    p.add_argument("--unet-checkpoint", default="",
                   help="export --finetuned: the UNet checkpoint to export (default: finetune-unet.pt)")
    p.add_argument("--latent-jitter", type=float, default=0.15, help="finetune-decoder: largest jitter")
    p.add_argument("--sampled-latents", type=int, default=1024, help="finetune-decoder: UNet latents to learn from")
    p.add_argument("--work", default=os.path.join(HERE, ".work"))
    p.add_argument("--out", default=HERE)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--vae-steps", type=int, default=700)
    p.add_argument("--vae-batch", type=int, default=24)
    p.add_argument("--kl-weight", type=float, default=1e-6)
    p.add_argument("--decoder-steps", type=int, default=1500)
    p.add_argument("--unet-steps", type=int, default=3000)
    p.add_argument("--unet-batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--caption-dropout", type=float, default=0.1)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--restart", action="store_true", help="ignore an existing UNet checkpoint")
    p.add_argument("--untrained", action="store_true", help="export random weights (engine development only)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormal floats are very slow on x86 CPUs
    os.makedirs(args.work, exist_ok=True)
    if args.stage in ("vae", "all"):
        train_vae(args)
    if args.stage in ("unet", "all"):
        train_unet(args)
    if args.stage in ("decoder", "all"):
        train_decoder(args)
    if args.stage in ("export", "all"):
        export(args)
    if args.stage == "finetune-decoder":
        finetune_decoder(args)
    if args.stage == "finetune-unet":
        finetune_unet(args)
    if args.stage == "fixtures":
        export_fixtures(args)
    if args.stage == "clean-decoder":
        clean_decoder(args)
    if args.stage == "export-decoder":
        export_decoder(args)


if __name__ == "__main__":
    main()
