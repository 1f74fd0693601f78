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

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/make-model-fixtures.py
"""

import argparse
import importlib.util
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures", "models"))
    p.add_argument("--seed", type=int, default=2024)
    args = p.parse_args()
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
