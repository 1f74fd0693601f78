#!/usr/bin/env python3
"""Build the SDXL conformance fixtures: tiny random-weight SDXL and SDXL-Turbo folders in Optimum's ONNX layout.

Real SDXL weights (6.9 GB) cannot be part of a test suite, so these folders have SDXL's parts, tensor
names, dtypes and dynamic axes at toy widths (text encoders 16 and 24 wide instead of 768 and 1280, a
pooled projection of 20 instead of 1280). Names and axes follow huggingface/optimum-onnx @
ab7a3d0155e6813e753f406349b816e8d5f4c498, optimum/exporters/onnx/model_configs.py:
  text_encoder    CLIPTextOnnxConfig (output_hidden_states): input_ids -> last_hidden_state, pooler_output,
                  hidden_states.0..N
  text_encoder_2  CLIPTextWithProjectionOnnxConfig: input_ids -> text_embeds, last_hidden_state,
                  hidden_states.0..N
  unet            UNetOnnxConfig (addition_embed_type "text_time"): sample, timestep (a scalar, no axes),
                  encoder_hidden_states, text_embeds, time_ids -> out_sample
  vae_decoder     VaeDecoderOnnxConfig: latent_sample -> sample
and the reference conditioning follows diffusers' StableDiffusionXLPipeline (huggingface/diffusers @
91d4292411405c22b2157286f08e41f92ce05e63, pipeline_stable_diffusion_xl.py: encode_prompt takes
hidden_states[-2] of both encoders, concatenated, and the pooled text_embeds of the second;
_get_add_time_ids gives original size + crop top-left + target size).

Folders written under --out (default test/fixtures/models):
  sdxl        int64 input_ids, float32 I/O
  sdxl-fp16   int32 input_ids, float16 I/O (the fp16 VAE has force_upcast, as SDXL's)
  sdxl-turbo  int64 input_ids, float32 I/O, EulerAncestral with trailing spacing, the UNet's weights as
              ONNX external data (model.onnx + model.onnx_data), as exports over 2 GB are
plus sdxl-reference.json: the conditioning tensors computed here in torch from the same weights.

With --family flow (or all), the flow-matching transformer fixtures (see make_flow_fixtures below):
  sd3           StableDiffusion3Pipeline: CLIP-L + CLIP-G (with projection, hidden states), T5, transformer
  sd3-no-t5     the same without text_encoder_3 / tokenizer_3 ([null, null] in model_index.json)
  flux-schnell  FluxPipeline: CLIP-L, T5, a packed-token transformer without guidance, static shift 1
  flux-dev      the same with the guidance input and dynamic shifting
  bf16-io/transformer.onnx  a graph with bfloat16 I/O, which the engine must refuse with a message
plus flow-reference.json: their conditioning, first transformer step and VAE decode computed in torch.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/make-model-fixtures.py [--family sdxl|flow|all]
"""

import argparse
import importlib.util
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
_spec = importlib.util.spec_from_file_location("tiny_shapes", os.path.join(ROOT, "models", "tiny-shapes", "train.py"))
ts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ts)

DIM1, DIM2, PROJ = 16, 24, 20  # SDXL: 768, 1280, 1280
CTX = DIM1 + DIM2
TIME_IDS = 6
TIME_EMBED = 8  # per time id (SDXL: addition_time_embed_dim 256)
OPSET = 14
PROMPTS = ["a red circle on a white background", "a blue square on a gray background"]
NEGATIVE = "a green triangle on a black background"
SIZE = (64, 48)  # height, width of the reference time_ids


class Tokenizer2(ts.SimpleTokenizer):
    """tokenizer_2 of SDXL: the same BPE, padded with "!" (id 0), as open_clip's bigG tokenizer."""

    def encode(self, text):
        ids = super().encode(text)
        end = ids.index(self.eos) + 1
        return ids[:end] + [self.vocab["!"]] * (len(ids) - end)

    def save(self, folder):
        super().save(folder)
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            path = os.path.join(folder, name)
            with open(path) as f:
                cfg = json.load(f)
            cfg["pad_token"] = "!"
            ts.write_json(path, cfg)


class ClipWithHiddenStates(nn.Module):
    """CLIPTextModel(WithProjection) as Optimum exports it for SDXL: every layer's states as outputs."""

    def __init__(self, te, projection=None):
        super().__init__()
        self.te, self.projection = te, projection

    def states(self, input_ids):
        te = self.te
        x = te.tok(input_ids.long()) + te.pos
        hidden = [x]
        for blk in te.blocks:
            q, k, v = blk["qkv"](blk["ln1"](x)).chunk(3, dim=-1)
            x = x + blk["o"](ts.attention(q, k, v, te.heads, te.mask))
            x = x + blk["ff"](blk["ln2"](x))
            hidden.append(x)
        # As transformers' CLIPTextModel: hidden_states are the layers' outputs before the final layer norm,
        # which only last_hidden_state gets.
        return te.ln(x), hidden

    def forward(self, input_ids):
        last, hidden = self.states(input_ids)
        pooled = last[torch.arange(last.shape[0]), input_ids.long().argmax(dim=-1)]
        if self.projection is None:
            return (last, pooled, *hidden)
        return (self.projection(pooled), last, *hidden)


class SdxlUNet(ts.UNet):
    """The tiny UNet plus SDXL's added conditioning: text_embeds and time_ids into the time embedding."""

    def __init__(self, temb=32):
        super().__init__(c0=8, c1=16, ctx=CTX, temb=temb)
        self.add_mlp = nn.Sequential(nn.Linear(PROJ + TIME_IDS * TIME_EMBED, temb), nn.SiLU(), nn.Linear(temb, temb))

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        b = sample.shape[0]
        t = timestep.reshape(-1).float().expand(b)
        te = self.t_mlp(ts.timestep_embedding(t))
        tid = ts.timestep_embedding(time_ids.float().reshape(-1), TIME_EMBED).reshape(b, -1)
        te = te + self.add_mlp(torch.cat([text_embeds.float(), tid], dim=-1))
        ctx = encoder_hidden_states.float()
        h = self.conv_in(sample.float())
        s0 = self.d0a(self.d0r(h, te), ctx)
        h = self.down(s0)
        s1 = self.d1a(self.d1r(h, te), ctx)
        h = self.m2(self.ma(self.m1(s1, te), ctx), te)
        h = self.u1a(self.u1r(torch.cat([h, s1], 1), te), ctx)
        h = self.up(h)
        h = self.u0a(self.u0r(torch.cat([h, s0], 1), te), ctx)
        return self.out(h)


class CastOut(nn.Module):
    """Float16 outputs (and inputs cast up inside), as an fp16 export presents them."""

    def __init__(self, inner, fp16):
        super().__init__()
        self.inner, self.fp16 = inner, fp16

    def forward(self, *args):
        out = self.inner(*args)
        if not self.fp16:
            return out
        if isinstance(out, tuple):
            return tuple(o.half() for o in out)
        return out.half()


def hidden_names(layers):
    return [f"hidden_states.{i}" for i in range(layers + 1)]


def export_text_encoders(out, te1, te2, ids_dtype, fp16):
    ids = torch.zeros(2, ts.MAX_LEN, dtype=ids_dtype)
    seq_axes = {0: "batch_size", 1: "sequence_length"}
    names1 = ["last_hidden_state", "pooler_output", *hidden_names(len(te1.te.blocks))]
    names2 = ["text_embeds", "last_hidden_state", *hidden_names(len(te2.te.blocks))]
    for sub, model, names in (("text_encoder", te1, names1), ("text_encoder_2", te2, names2)):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        torch.onnx.export(CastOut(model, fp16), (ids,), os.path.join(out, sub, "model.onnx"), opset_version=OPSET,
                          input_names=["input_ids"], output_names=names,
                          dynamic_axes={"input_ids": seq_axes, **{n: {0: "batch_size"} for n in names}})


def export_unet(out, unet, fp16, external):
    fdt = torch.float16 if fp16 else torch.float32
    args = (torch.randn(2, ts.LATENT_CH, ts.LATENT, ts.LATENT).to(fdt), torch.tensor(999.0).to(fdt),
            torch.randn(2, ts.MAX_LEN, CTX).to(fdt), torch.randn(2, PROJ).to(fdt),
            torch.tensor([[64.0, 64, 0, 0, 64, 64]] * 2).to(fdt))
    os.makedirs(os.path.join(out, "unet"), exist_ok=True)
    path = os.path.join(out, "unet", "model.onnx")
    torch.onnx.export(CastOut(unet, fp16), args, path, opset_version=OPSET,
                      input_names=["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"],
                      output_names=["out_sample"],
                      dynamic_axes={"sample": {0: "batch_size", 2: "height", 3: "width"},
                                    "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                                    "text_embeds": {0: "batch_size"}, "time_ids": {0: "batch_size"},
                                    "out_sample": {0: "batch_size", 2: "height", 3: "width"}})
    if external:
        model = onnx.load(path)
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx_data", size_threshold=0)


def export_vae(out, dec, fp16):
    fdt = torch.float16 if fp16 else torch.float32
    z = torch.randn(1, ts.LATENT_CH, ts.LATENT, ts.LATENT).to(fdt)
    os.makedirs(os.path.join(out, "vae_decoder"), exist_ok=True)
    torch.onnx.export(ts.HalfIO(dec) if fp16 else dec, (z,), os.path.join(out, "vae_decoder", "model.onnx"),
                      opset_version=OPSET, input_names=["latent_sample"], output_names=["sample"],
                      dynamic_axes={"latent_sample": {0: "batch_size", 2: "height_latent", 3: "width_latent"},
                                    "sample": {0: "batch_size", 2: "height", 3: "width"}})


def write_configs(out, turbo):
    ts.write_json(os.path.join(out, "vae_decoder", "config.json"), {
        "_class_name": "AutoencoderKL", "latent_channels": ts.LATENT_CH, "block_out_channels": [16, 16, 16, 32],
        "scaling_factor": 0.13025, "force_upcast": True})
    ts.write_json(os.path.join(out, "unet", "config.json"), {
        "_class_name": "UNet2DConditionModel", "sample_size": ts.LATENT, "cross_attention_dim": CTX,
        "addition_embed_type": "text_time", "addition_time_embed_dim": TIME_EMBED,
        "projection_class_embeddings_input_dim": PROJ + TIME_IDS * TIME_EMBED, "time_cond_proj_dim": None})
    ts.write_json(os.path.join(out, "text_encoder", "config.json"), {
        "_class_name": "CLIPTextModel", "architectures": ["CLIPTextModel"], "hidden_size": DIM1,
        "num_hidden_layers": 2, "max_position_embeddings": ts.MAX_LEN})
    ts.write_json(os.path.join(out, "text_encoder_2", "config.json"), {
        "_class_name": "CLIPTextModelWithProjection", "architectures": ["CLIPTextModelWithProjection"],
        "hidden_size": DIM2, "projection_dim": PROJ, "num_hidden_layers": 2, "max_position_embeddings": ts.MAX_LEN})
    common = {"num_train_timesteps": ts.T_TRAIN, "beta_start": ts.BETA_START, "beta_end": ts.BETA_END,
              "beta_schedule": "scaled_linear", "prediction_type": "epsilon", "steps_offset": 1,
              "set_alpha_to_one": False, "clip_sample": False, "interpolation_type": "linear",
              "use_karras_sigmas": False, "trained_betas": None}
    sched = ({"_class_name": "EulerAncestralDiscreteScheduler", "timestep_spacing": "trailing", **common} if turbo
             else {"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "leading", **common})
    ts.write_json(os.path.join(out, "scheduler", "scheduler_config.json"), sched)
    ts.write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "ORTStableDiffusionXLPipeline", "_diffusers_version": "0.30.0",
        "force_zeros_for_empty_prompt": True, "add_watermarker": None,
        "scheduler": ["diffusers", sched["_class_name"]],
        "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae_decoder": ["diffusers", "AutoencoderKL"]})


def conditioning(te1, te2, tok1, tok2, texts):
    """encode_prompt: hidden_states[-2] of both encoders concatenated; pooled text_embeds of encoder 2."""
    with torch.no_grad():
        ids1 = torch.tensor([tok1.encode(t) for t in texts])
        ids2 = torch.tensor([tok2.encode(t) for t in texts])
        h1 = te1(ids1)[2:][-2]
        out2 = te2(ids2)
        h2, pooled = out2[2:][-2], out2[0]
        return torch.cat([h1, h2], dim=-1), pooled, ids1, ids2


def rounded(t):
    return [float(f"{v:.6g}") for v in t.reshape(-1).tolist()]


# ----------------------------------------------------------------------------------------------
# Flow-matching transformers: SD3 / SD3.5 and FLUX.1
# ----------------------------------------------------------------------------------------------
# Names, dtypes and axes: huggingface/optimum-onnx @ ab7a3d0155e6813e753f406349b816e8d5f4c498,
# optimum/exporters/onnx/model_configs.py: T5EncoderOnnxConfig (input_ids -> last_hidden_state),
# SD3TransformerOnnxConfig (hidden_states [B,C,H,W], encoder_hidden_states, pooled_projections, timestep
# {0: "step"} as float -> out_hidden_states), FluxTransformerOnnxConfig (hidden_states [B, packed, 4C],
# txt_ids [L, 3] and img_ids [packed, 3] as diffusers >= 0.31 takes them, guidance [B] when guidance_embeds
# -> out_hidden_states). The reference follows huggingface/diffusers @ 91d4292411405c22b2157286f08e41f92ce05e63:
# pipeline_stable_diffusion_3.py (encode_prompt) and pipeline_flux.py (_pack_latents,
# _prepare_latent_image_ids, timestep / 1000, guidance).

CLIP_L, CLIP_G, T5_DIM, INNER = 16, 24, 48, 32  # SD3: 768, 1280, 4096 (joint_attention_dim), 1536
FLOW_CH = 16
T5_LEN = 32  # the fixture's tokenizer_3 model_max_length (SD3 pipelines use 256, FLUX 512)
FLOW_PROMPT = "a red circle on a white background"
FLOW_WORDS = sorted({*"a red blue green circle square triangle on white black gray background".split()})
FLOW_SIZE = 64  # pixels: 8x8 latents, 4x4 packed tokens


class T5Tokenizer:
    """A whole-word Unigram vocabulary written as tokenizer.json (Metaspace, </s> appended, <pad> = 0)."""

    def __init__(self):
        self.pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
        self.pieces += [("\u2581" + w, -3.0) for w in FLOW_WORDS]
        self.pieces += [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyz"]
        self.ids = {p: i for i, (p, _) in enumerate(self.pieces)}

    def encode(self, text):
        ids = [self.ids["\u2581" + w] for w in text.split()][: T5_LEN - 1] + [1]
        return ids + [0] * (T5_LEN - len(ids))

    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        special = [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False,
                    "normalized": False, "special": True} for i, (p, _) in enumerate(self.pieces[:3])]
        meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
        ts.write_json(os.path.join(folder, "tokenizer.json"), {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
            "pre_tokenizer": meta,
            "post_processor": {"type": "TemplateProcessing",
                               "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                          {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                               "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                        {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                        {"Sequence": {"id": "B", "type_id": 0}},
                                        {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                               "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
            "decoder": meta,
            "model": {"type": "Unigram", "unk_id": 2, "byte_fallback": False,
                      "vocab": [[p, s] for p, s in self.pieces]}})
        ts.write_json(os.path.join(folder, "tokenizer_config.json"), {
            "tokenizer_class": "T5Tokenizer", "model_max_length": T5_LEN, "eos_token": "</s>",
            "unk_token": "<unk>", "pad_token": "<pad>"})


class TinyT5(nn.Module):
    """T5EncoderModel's I/O: bidirectional attention over the ids, RMS-normed states."""

    def __init__(self, vocab, dim=T5_DIM):
        super().__init__()
        self.emb, self.pos = nn.Embedding(vocab, dim), nn.Parameter(torch.randn(512, dim) * 0.1)
        self.qkv, self.o = nn.Linear(dim, 3 * dim, bias=False), nn.Linear(dim, dim, bias=False)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim, bias=False), nn.ReLU(), nn.Linear(2 * dim, dim, bias=False))

    @staticmethod
    def rms(x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)

    def forward(self, input_ids):
        x = self.emb(input_ids.long()) + self.pos[: input_ids.shape[1]]
        q, k, v = self.qkv(self.rms(x)).chunk(3, dim=-1)
        x = x + self.o(ts.attention(q, k, v, 4))
        x = x + self.ff(self.rms(x))
        return self.rms(x)


class JointBlock(nn.Module):
    """One MMDiT-style block: image and text tokens attend jointly, modulated by the conditioning vector."""

    def __init__(self, inner=INNER):
        super().__init__()
        self.ln = nn.LayerNorm(inner, elementwise_affine=False)
        self.ada = nn.Linear(inner, 2 * inner)
        self.qkv, self.o = nn.Linear(inner, 3 * inner), nn.Linear(inner, inner)

    def forward(self, x, ctx, cond):
        n = x.shape[1]
        z = torch.cat([x, ctx], dim=1)
        scale, shift = self.ada(F.silu(cond)).chunk(2, dim=-1)
        q, k, v = self.qkv(self.ln(z) * (1 + scale[:, None]) + shift[:, None]).chunk(3, dim=-1)
        z = z + self.o(ts.attention(q, k, v, 4))
        return self.ln(z[:, :n])


def mlp(cin, inner=INNER):
    return nn.Sequential(nn.Linear(cin, inner), nn.SiLU(), nn.Linear(inner, inner))


class TinySD3Transformer(nn.Module):
    """SD3Transformer2DModel's I/O: 2x2 patches of [B,16,h,w], joint attention with the text, unpatchified."""

    def __init__(self, pooled=CLIP_L + CLIP_G):
        super().__init__()
        self.proj_in = nn.Conv2d(FLOW_CH, INNER, 2, stride=2)
        self.ctx, self.t_mlp, self.p_mlp = nn.Linear(T5_DIM, INNER), mlp(32), mlp(pooled)
        self.block, self.out = JointBlock(), nn.Linear(INNER, FLOW_CH * 4)

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep):
        b, c, h, w = hidden_states.shape
        x = self.proj_in(hidden_states.float()).flatten(2).transpose(1, 2)
        cond = self.t_mlp(ts.timestep_embedding(timestep.float(), 32)) + self.p_mlp(pooled_projections.float())
        x = self.out(self.block(x, self.ctx(encoder_hidden_states.float()), cond))
        return x.reshape(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


class TinyFluxTransformer(nn.Module):
    """FluxTransformer2DModel's I/O: packed tokens [B, hw/4, 64], ids as positions, timestep (and guidance) x 1000."""

    def __init__(self, guidance):
        super().__init__()
        self.x_in, self.ctx, self.pos = nn.Linear(FLOW_CH * 4, INNER), nn.Linear(T5_DIM, INNER), nn.Linear(3, INNER)
        self.t_mlp, self.p_mlp = mlp(32), mlp(CLIP_L)
        self.g_mlp = mlp(32) if guidance else None
        self.block, self.out = JointBlock(), nn.Linear(INNER, FLOW_CH * 4)

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids,
                guidance=None):
        x = self.x_in(hidden_states.float()) + self.pos(img_ids.float() / 4)[None]
        ctx = self.ctx(encoder_hidden_states.float()) + self.pos(txt_ids.float())[None]
        cond = self.t_mlp(ts.timestep_embedding(timestep.float() * 1000, 32)) + self.p_mlp(pooled_projections.float())
        if self.g_mlp is not None:
            cond = cond + self.g_mlp(ts.timestep_embedding(guidance.float() * 1000, 32))
        return self.out(self.block(x, ctx, cond))


class FlowDecoder(nn.Module):
    """A VAE decoder over 16 latent channels, 8x up."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(FLOW_CH, 16, 3, padding=1), ts.Up(16), ts.Up(16), ts.Up(16),
                                 nn.SiLU(), nn.Conv2d(16, 3, 3, padding=1), nn.Tanh())

    def forward(self, z):
        return self.net(z)


def pack_latents(x):
    """diffusers' FluxPipeline._pack_latents: [B,C,h,w] -> [B, (h/2)(w/2), 4C]."""
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(x, h, w):
    b, n, c4 = x.shape
    return x.view(b, h // 2, w // 2, c4 // 4, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c4 // 4, h, w)


def latent_image_ids(h, w):
    """FluxPipeline._prepare_latent_image_ids for latents h x w: (0, row, column) per packed token."""
    ids = torch.zeros(h // 2, w // 2, 3)
    ids[..., 1] += torch.arange(h // 2)[:, None]
    ids[..., 2] += torch.arange(w // 2)[None, :]
    return ids.reshape(-1, 3)


def export_onnx(model, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(model, args, path, opset_version=OPSET, input_names=inputs, output_names=outputs,
                      dynamic_axes=axes)


def clip_names(with_projection, layers=2):
    if with_projection:
        return ["text_embeds", "last_hidden_state", *hidden_names(layers)]
    return ["last_hidden_state", "pooler_output", *hidden_names(layers)]


def export_clip(out, sub, model, names):
    ids = torch.zeros(2, ts.MAX_LEN, dtype=torch.int64)
    export_onnx(model, (ids,), os.path.join(out, sub, "model.onnx"), ["input_ids"], names,
                {"input_ids": {0: "batch_size", 1: "sequence_length"}, **{n: {0: "batch_size"} for n in names}})


def export_t5(out, sub, t5):
    ids = torch.zeros(2, T5_LEN, dtype=torch.int64)
    export_onnx(t5, (ids,), os.path.join(out, sub, "model.onnx"), ["input_ids"], ["last_hidden_state"],
                {"input_ids": {0: "batch_size", 1: "sequence_length"},
                 "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})


def export_flow_vae(out, dec, scaling, shift):
    z = torch.randn(1, FLOW_CH, 8, 8)
    export_onnx(dec, (z,), os.path.join(out, "vae_decoder", "model.onnx"), ["latent_sample"], ["sample"],
                {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"},
                 "sample": {0: "batch_size", 2: "latent_height * 8", 3: "latent_width * 8"}})
    ts.write_json(os.path.join(out, "vae_decoder", "config.json"), {
        "_class_name": "AutoencoderKL", "latent_channels": FLOW_CH, "block_out_channels": [16, 16, 16, 16],
        "scaling_factor": scaling, "shift_factor": shift, "force_upcast": True})


def write_clip_config(out, sub, dim, projection):
    cfg = {"_class_name": "CLIPTextModelWithProjection" if projection else "CLIPTextModel", "hidden_size": dim,
           "num_hidden_layers": 2, "max_position_embeddings": ts.MAX_LEN}
    if projection:
        cfg["projection_dim"] = dim
    cfg["architectures"] = [cfg["_class_name"]]
    ts.write_json(os.path.join(out, sub, "config.json"), cfg)


def export_sd3(out, parts, with_t5):
    te1, te2, t5, tr, dec, tok1, tok2, tok3 = parts
    tok1.save(os.path.join(out, "tokenizer"))
    tok2.save(os.path.join(out, "tokenizer_2"))
    export_clip(out, "text_encoder", te1, clip_names(True))
    export_clip(out, "text_encoder_2", te2, clip_names(True))
    write_clip_config(out, "text_encoder", CLIP_L, True)
    write_clip_config(out, "text_encoder_2", CLIP_G, True)
    if with_t5:
        tok3.save(os.path.join(out, "tokenizer_3"))
        export_t5(out, "text_encoder_3", t5)
        ts.write_json(os.path.join(out, "text_encoder_3", "config.json"), {
            "_class_name": "T5EncoderModel", "architectures": ["T5EncoderModel"], "d_model": T5_DIM})
    args = (torch.randn(2, FLOW_CH, 8, 8), torch.randn(2, 12, T5_DIM), torch.randn(2, CLIP_L + CLIP_G),
            torch.tensor([1000.0, 1000.0]))
    export_onnx(tr, args, os.path.join(out, "transformer", "model.onnx"),
                ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], ["out_hidden_states"],
                {"hidden_states": {0: "batch_size", 2: "height", 3: "width"},
                 "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                 "pooled_projections": {0: "batch_size"}, "timestep": {0: "step"},
                 "out_hidden_states": {0: "batch_size", 2: "height", 3: "width"}})
    ts.write_json(os.path.join(out, "transformer", "config.json"), {
        "_class_name": "SD3Transformer2DModel", "sample_size": 8, "patch_size": 2, "in_channels": FLOW_CH,
        "out_channels": FLOW_CH, "joint_attention_dim": T5_DIM, "pooled_projection_dim": CLIP_L + CLIP_G,
        "caption_projection_dim": INNER})
    export_flow_vae(out, dec, 1.5305, 0.0609)
    ts.write_json(os.path.join(out, "scheduler", "scheduler_config.json"), {
        "_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0})
    none = [None, None]
    ts.write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.31.0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_3": ["transformers", "T5EncoderModel"] if with_t5 else none,
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "tokenizer_3": ["transformers", "T5TokenizerFast"] if with_t5 else none,
        "transformer": ["diffusers", "SD3Transformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]})


def export_flux(out, parts, dev):
    te, t5, tr, dec, tok, tok2 = parts
    tok.save(os.path.join(out, "tokenizer"))
    tok2.save(os.path.join(out, "tokenizer_2"))
    export_clip(out, "text_encoder", te, clip_names(False))
    write_clip_config(out, "text_encoder", CLIP_L, False)
    export_t5(out, "text_encoder_2", t5)
    ts.write_json(os.path.join(out, "text_encoder_2", "config.json"), {
        "_class_name": "T5EncoderModel", "architectures": ["T5EncoderModel"], "d_model": T5_DIM})
    names = ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids"]
    args = [torch.randn(2, 16, FLOW_CH * 4), torch.randn(2, 12, T5_DIM), torch.randn(2, CLIP_L),
            torch.tensor([1.0, 1.0]), latent_image_ids(8, 8), torch.zeros(12, 3)]
    axes = {"hidden_states": {0: "batch_size", 1: "packed_height_width"},
            "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
            "pooled_projections": {0: "batch_size"}, "timestep": {0: "step"},
            "txt_ids": {0: "sequence_length"}, "img_ids": {0: "packed_height_width"},
            "out_hidden_states": {0: "batch_size", 1: "packed_height_width"}}
    if dev:
        names.append("guidance")
        args.append(torch.tensor([3.5, 3.5]))
        axes["guidance"] = {0: "batch_size"}
    export_onnx(tr, tuple(args), os.path.join(out, "transformer", "model.onnx"), names, ["out_hidden_states"], axes)
    ts.write_json(os.path.join(out, "transformer", "config.json"), {
        "_class_name": "FluxTransformer2DModel", "patch_size": 1, "in_channels": FLOW_CH * 4,
        "joint_attention_dim": T5_DIM, "pooled_projection_dim": CLIP_L, "guidance_embeds": dev,
        "axes_dims_rope": [4, 14, 14]})
    export_flow_vae(out, dec, 0.3611, 0.1159)
    sched = {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000,
             "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15}
    sched.update({"shift": 3.0, "use_dynamic_shifting": True} if dev else {"shift": 1.0, "use_dynamic_shifting": False})
    ts.write_json(os.path.join(out, "scheduler", "scheduler_config.json"), sched)
    ts.write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "FluxPipeline", "_diffusers_version": "0.31.0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]})


def sd3_conditioning(te1, te2, t5, tok1, tok2, tok3, texts):
    """StableDiffusion3Pipeline.encode_prompt: CLIP penultimate states concatenated, padded to T5's width,
    then T5's states (or zeros of joint_attention_dim over the CLIP length without text_encoder_3) after them
    on the sequence axis; pooled = both CLIPs' text_embeds concatenated."""
    ids1 = torch.tensor([tok1.encode(t) for t in texts])
    ids2 = torch.tensor([tok2.encode(t) for t in texts])
    ids3 = torch.tensor([tok3.encode(t) for t in texts])
    o1, o2 = te1(ids1), te2(ids2)
    clip = torch.cat([o1[2:][-2], o2[2:][-2]], dim=-1)
    clip = F.pad(clip, (0, T5_DIM - clip.shape[-1]))
    pooled = torch.cat([o1[0], o2[0]], dim=-1)
    with_t5 = torch.cat([clip, t5(ids3)], dim=-2)
    without = torch.cat([clip, torch.zeros(len(texts), ts.MAX_LEN, T5_DIM)], dim=-2)
    return with_t5, without, pooled, ids1, ids2, ids3


def export_bf16_probe(path):
    """A transformer-shaped graph with bfloat16 I/O (as `--dtype bf16` exports write): the engine must refuse it
    with a message, since ONNX Runtime for Node has no bfloat16 tensors."""
    from onnx import TensorProto, helper
    bf16 = TensorProto.BFLOAT16
    inputs = [helper.make_tensor_value_info("hidden_states", bf16, ["batch_size", FLOW_CH, "height", "width"]),
              helper.make_tensor_value_info("encoder_hidden_states", bf16, ["batch_size", "sequence_length", T5_DIM]),
              helper.make_tensor_value_info("pooled_projections", bf16, ["batch_size", CLIP_L + CLIP_G]),
              helper.make_tensor_value_info("timestep", bf16, ["step"])]
    out = helper.make_tensor_value_info("out_hidden_states", bf16, ["batch_size", FLOW_CH, "height", "width"])
    graph = helper.make_graph([helper.make_node("Identity", ["hidden_states"], ["out_hidden_states"])], "bf16",
                              inputs, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def make_flow_fixtures(out_dir, seed):
    """SD3 (with and without T5) and FLUX schnell / dev folders, plus flow-reference.json."""
    torch.manual_seed(seed)
    tok1, tok2, tok3 = ts.SimpleTokenizer(), Tokenizer2(), T5Tokenizer()
    vocab = len(tok1.vocab)
    te1 = ClipWithHiddenStates(ts.TextEncoder(vocab, dim=CLIP_L, layers=2), nn.Linear(CLIP_L, CLIP_L, bias=False))
    te2 = ClipWithHiddenStates(ts.TextEncoder(vocab, dim=CLIP_G, layers=2), nn.Linear(CLIP_G, CLIP_G, bias=False))
    t5 = TinyT5(len(tok3.pieces))
    sd3, dec = TinySD3Transformer(), FlowDecoder()
    flux_te = ClipWithHiddenStates(ts.TextEncoder(vocab, dim=CLIP_L, layers=2))
    schnell, dev = TinyFluxTransformer(False), TinyFluxTransformer(True)
    for m in (te1, te2, t5, sd3, dec, flux_te, schnell, dev):
        m.eval()
    sizes = {}
    with torch.no_grad():
        for name, with_t5 in (("sd3", True), ("sd3-no-t5", False)):
            export_sd3(os.path.join(out_dir, name), (te1, te2, t5, sd3, dec, tok1, tok2, tok3), with_t5)
        for name, model, is_dev in (("flux-schnell", schnell, False), ("flux-dev", dev, True)):
            export_flux(os.path.join(out_dir, name), (flux_te, t5, model, dec, tok1, tok3), is_dev)
    export_bf16_probe(os.path.join(out_dir, "bf16-io", "transformer.onnx"))
    for name in ("sd3", "sd3-no-t5", "flux-schnell", "flux-dev"):
        out = os.path.join(out_dir, name)
        sizes[name] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        print(f"fixture {name}: {sizes[name] / 1e6:.2f} MB", flush=True)

    texts = [FLOW_PROMPT, ""]
    lat = FLOW_SIZE // 8
    x = torch.randn(1, FLOW_CH, lat, lat)
    with torch.no_grad():
        hid_t5, hid_no, pooled, ids1, ids2, ids3 = sd3_conditioning(te1, te2, t5, tok1, tok2, tok3, texts)
        # First SD3 step with CFG: [negative, prompt] rows, timestep sigma * 1000 (1000 at the first step).
        t0 = torch.tensor([1000.0, 1000.0])
        sd3_out = {k: sd3(torch.cat([x, x]), h[[1, 0]], pooled[[1, 0]], t0) for k, h in
                   (("sd3", hid_t5), ("sd3-no-t5", hid_no))}
        fids = torch.tensor([tok1.encode(t) for t in texts])
        f_last, f_pooled = flux_te(fids)[:2]
        f_hidden = t5(ids3)
        packed = pack_latents(x)
        img_ids, txt_ids = latent_image_ids(lat, lat), torch.zeros(T5_LEN, 3)
        # FluxPipeline passes timestep / 1000 (1.0 at the first step) and, for dev, guidance [B].
        one = torch.tensor([1.0])
        flux_out = {"flux-schnell": schnell(packed, f_hidden[:1], f_pooled[:1], one, img_ids, txt_ids),
                    "flux-dev": dev(packed, f_hidden[:1], f_pooled[:1], one, img_ids, txt_ids, torch.tensor([3.5]))}
        # The VAE decodes latents / scaling_factor + shift_factor; the first 8 pixel rows are kept.
        vae_rows = {"sd3": dec(x / 1.5305 + 0.0609)[:, :, :8], "flux": dec(x / 0.3611 + 0.1159)[:, :, :8]}
    ts.write_json(os.path.join(out_dir, "flow-reference.json"), {
        "about": "conditioning and first-step transformer I/O of the flow fixtures, computed in torch by "
                 "scripts/make-model-fixtures.py",
        "texts": texts, "clip_length": ts.MAX_LEN, "t5_length": T5_LEN, "joint_width": T5_DIM,
        "size": FLOW_SIZE, "latent": rounded(x), "latent_dims": list(x.shape),
        "sd3": {"input_ids": ids1.tolist(), "input_ids_2": ids2.tolist(), "input_ids_3": ids3.tolist(),
                "hidden": [rounded(h) for h in hid_t5], "hidden_no_t5": [rounded(h) for h in hid_no],
                "pooled": [rounded(p) for p in pooled], "guidance_scale": 4.0, "timestep": 1000.0,
                "out": {k: rounded(v) for k, v in sd3_out.items()}, "vae_rows": rounded(vae_rows["sd3"])},
        "flux": {"input_ids": fids.tolist(), "input_ids_2": ids3.tolist(), "hidden": [rounded(h) for h in f_hidden],
                 "pooled": [rounded(p) for p in f_pooled], "packed": rounded(packed), "img_ids": img_ids.tolist(),
                 "txt_ids_shape": list(txt_ids.shape), "timestep": 1.0, "guidance": 3.5,
                 "out": {k: rounded(v) for k, v in flux_out.items()}, "vae_rows": rounded(vae_rows["flux"])}})
    print("flow reference written", flush=True)
    return sizes


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures", "models"))
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--family", choices=["sdxl", "flow", "all"], default="all",
                   help="which fixtures to write (each family draws its weights from its own seed)")
    args = p.parse_args()
    if args.family in ("flow", "all"):
        make_flow_fixtures(args.out, args.seed + 1)
    if args.family == "flow":
        return
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    tok1, tok2 = ts.SimpleTokenizer(), Tokenizer2()
    vocab = len(tok1.vocab)
    te1 = ClipWithHiddenStates(ts.TextEncoder(vocab, dim=DIM1, layers=2))
    te2 = ClipWithHiddenStates(ts.TextEncoder(vocab, dim=DIM2, layers=2), nn.Linear(DIM2, PROJ, bias=False))
    unet, dec = SdxlUNet(), ts.Decoder((32, 16, 16))
    for m in (te1, te2, unet, dec):
        m.eval()
    variants = {"sdxl": (torch.int64, False, False, False), "sdxl-fp16": (torch.int32, True, False, False),
                "sdxl-turbo": (torch.int64, False, True, True)}
    for name, (ids_dtype, fp16, turbo, external) in variants.items():
        out = os.path.join(args.out, name)
        tok1.save(os.path.join(out, "tokenizer"))
        tok2.save(os.path.join(out, "tokenizer_2"))
        with torch.no_grad():
            export_text_encoders(out, te1, te2, ids_dtype, fp16)
            export_unet(out, unet, fp16, external)
            export_vae(out, dec, fp16)
        write_configs(out, turbo)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        print(f"fixture {name}: {size / 1e6:.2f} MB", flush=True)
    texts = [*PROMPTS, NEGATIVE]
    hidden, pooled, ids1, ids2 = conditioning(te1, te2, tok1, tok2, texts)
    h, w = SIZE
    ts.write_json(os.path.join(args.out, "sdxl-reference.json"), {
        "about": "conditioning of the sdxl fixtures computed in torch by scripts/make-model-fixtures.py",
        "sequence_length": ts.MAX_LEN, "width": CTX, "pooled_width": PROJ,
        "height": h, "width_px": w, "time_ids": [h, w, 0, 0, h, w],
        "texts": [{"text": t, "input_ids": ids1[i].tolist(), "input_ids_2": ids2[i].tolist(),
                   "hidden": rounded(hidden[i]), "pooled": rounded(pooled[i])} for i, t in enumerate(texts)]})
    print("reference written", flush=True)


if __name__ == "__main__":
    main()
