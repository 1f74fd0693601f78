"""Load the weights of an exported tiny-shapes part (ONNX) back into its torch module.

The shipped model is the ONNX export; the training checkpoints are not shipped. To fine-tune a part, or to
train a new model on the shipped autoencoder's latent space, the torch module needs the exported weights
back. An export renames and reshapes some of them (a Linear's weight transposed for MatMul, a GroupNorm's
affine parameters unsqueezed for Mul/Add, `onnx::...` names), so names alone do not map them. Instead the
module is exported once more with every parameter element set to its own integer marker: each initializer
of that export then says, element by element, which parameter element it holds, and the shipped export's
initializer in the same place gives the value. The result is checked by exporting the loaded module and
comparing every initializer with the shipped file.
"""

import io

import numpy as np
import onnx
import torch
from onnx import numpy_helper

OPSET = 14
# Markers are exact in float32 up to 2**24: far more elements than any tiny-shapes part has.
MAX_MARKERS = 2 ** 24


def _export_initializers(module, args, input_names, output_names):
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, args, buf, opset_version=OPSET, input_names=input_names,
                          output_names=output_names)
    model = onnx.load_from_string(buf.getvalue())
    return [(i.name, numpy_helper.to_array(i)) for i in model.graph.initializer]


def load_onnx_weights(module, onnx_path, args, input_names, output_names):
    """Copy the weights of the export at `onnx_path` into `module` (built by the same code that exported it).

    `args`, `input_names` and `output_names` are those the export used. Raises if a parameter is not
    fully recovered or if the loaded module does not export to the same initializers."""
    module.eval()
    params = list(module.named_parameters())
    total = sum(p.numel() for _, p in params)
    if total + 1 >= MAX_MARKERS:
        raise ValueError(f"{total} parameters: too many for float32 markers")
    starts, offset = [], 1
    with torch.no_grad():
        for _, p in params:
            starts.append(offset)
            p.copy_(torch.arange(offset, offset + p.numel(), dtype=torch.float64).reshape(p.shape).to(p.dtype))
            offset += p.numel()
    starts_np = np.array(starts + [offset])
    marked = _export_initializers(module, args, input_names, output_names)
    shipped = [(i.name, numpy_helper.to_array(i)) for i in onnx.load(onnx_path).graph.initializer]
    if [a.shape for _, a in marked] != [a.shape for _, a in shipped]:
        raise ValueError(f"{onnx_path}: its initializers do not match this module's export")

    values = [np.full(p.numel(), np.nan, dtype=np.float64) for _, p in params]
    for (_, mark), (name, real) in zip(marked, shipped):
        m = mark.astype(np.float64).ravel()
        if m.size == 0 or not np.all((m == np.round(m)) & (m >= 1) & (m < offset)):
            continue  # a constant of the graph (buffer, shape), not a parameter
        which = np.searchsorted(starts_np, m, side="right") - 1
        r = real.astype(np.float64).ravel()
        for k in np.unique(which):
            sel = which == k
            values[k][(m[sel] - starts[k]).astype(np.int64)] = r[sel]
    missing = [name for (name, _), v in zip(params, values) if np.isnan(v).any()]
    if missing:
        raise ValueError(f"{onnx_path}: no value found for {', '.join(missing)}")
    by_name = dict(shipped)
    with torch.no_grad():
        for (_, p), v in zip(params, values):
            p.copy_(torch.from_numpy(v).reshape(p.shape).to(p.dtype))
        # Buffers (an attention mask) keep their names; the shipped ones win where they differ by rounding.
        for name, b in module.named_buffers():
            if name in by_name and by_name[name].shape == tuple(b.shape):
                b.copy_(torch.from_numpy(by_name[name].copy()).to(b.dtype))

    again = _export_initializers(module, args, input_names, output_names)
    for (name, a), (_, b) in zip(again, shipped):
        if a.shape != b.shape or not np.array_equal(a, b):
            raise ValueError(f"{onnx_path}: initializer {name} differs after loading")
    return module
