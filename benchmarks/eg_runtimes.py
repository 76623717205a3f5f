"""The encoder + generator pair of a COIN model under CPU inference runtimes other than eager torch.

Used by ``benchmarks/segment_speed.py --runtimes`` (docs/benchmarks.md, "Inference runtimes"). Each
runtime gets the same fp32 function x -> G(E(x), 0, x) with the weights baked in (spectral norm
removed, its eval-mode weight kept), at a fixed batch size, on one thread:

* ``torchscript``: ``torch.jit.trace`` + ``torch.jit.freeze`` (constants and batch norm folded where
  it can), channels_last. ``torch.jit.optimize_for_inference`` is not applied: its MKL-DNN conversion
  fails on the conditional batch norm (an affine-free ``BatchNorm2d``);
* ``onednn_graph``: the same traced and frozen graph with oneDNN Graph (LLGA) fusion switched on
  (``torch.jit.enable_onednn_fusion``), channels_last;
* ``onnxruntime``: ``torch.onnx.export`` (opset 17), ONNX Runtime's CPU execution provider with every
  graph optimisation (``ORT_ENABLE_ALL``: its own NCHWc layout and conv fusions);
* ``openvino``: the same ONNX file compiled by OpenVINO's CPU plugin, inference precision f32.

In the sub-pixel form the ONNX graph interleaves the four phases with ``pixel_shuffle``
(DepthToSpace) instead of the strided writes of ``coin_core.models.subpixel``: the tracer turns those
writes into ScatterND onto constant zero buffers of the whole batch (a 494 MB file at batch 8 instead
of 242 MB). Same linear map; :func:`check_outputs` compares every runtime with eager torch.

The optional packages (``onnx``, ``onnxruntime``, ``openvino``; pinned in requirements/test.txt) are
imported only here; :func:`missing` names what to install when one is absent.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

RUNTIMES = ("torch", "torchscript", "onednn_graph", "onnxruntime", "openvino")
PACKAGES = {"onnxruntime": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino")}
ONNX_OPSET = 17


def missing(runtime: str) -> str | None:
    """None when ``runtime`` can run here, else what to install (one line)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; one of {', '.join(RUNTIMES)}")
    absent = [p for p in PACKAGES.get(runtime, ()) if importlib.util.find_spec(p) is None]
    if absent:
        return f"{runtime}: not installed (pip install -r requirements/test.txt installs {', '.join(absent)})"
    return None


class EncoderGenerator(nn.Module):
    """x -> G(E(x), 0, x): the counterfactual of ``x`` under the "normal" condition (fp32)."""

    def __init__(self, encoder: nn.Module, generator: nn.Module) -> None:
        super().__init__()
        self.encoder, self.generator = encoder, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(self.encoder(x), 0, x)


def plain_pair(encoder: nn.Module, generator: nn.Module, subpixel: bool) -> EncoderGenerator:
    """A copy of E and G in eval mode with every spectrally normalised layer replaced by a plain one
    holding its eval-mode weight (tracers cannot export the power iteration's ``vdot``), and the
    up-sampling convs in the sub-pixel or the reference form.

    (Not ``parametrize.remove_parametrizations``: deep copies of a parametrized module share one
    generated class, and removing the parametrization from one copy deletes the property from that
    class, which breaks the other copies and the caller's model.)"""
    from torch.nn.utils import parametrize

    pair = EncoderGenerator(copy.deepcopy(encoder), copy.deepcopy(generator)).eval().float()
    for parent in list(pair.modules()):
        for name, child in list(parent.named_children()):
            if parametrize.is_parametrized(child):
                setattr(parent, name, _plain_layer(child))
    for block in pair.generator.blocks:
        block.use_subpixel = subpixel
    return pair


def _plain_layer(layer: nn.Module) -> nn.Module:
    if isinstance(layer, nn.Conv2d):
        plain = nn.Conv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
            padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
            bias=layer.bias is not None, padding_mode=layer.padding_mode,
        )  # fmt: skip
    elif isinstance(layer, nn.Linear):
        plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    else:
        raise TypeError(f"no plain form for the parametrized {type(layer).__name__}")
    with torch.no_grad():
        plain.weight.copy_(layer.weight)
        if layer.bias is not None:
            plain.bias.copy_(layer.bias)
    return plain.eval()


def subpixel_shuffled(v: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(Up_nearest(v))`` in sub-pixel form with the phases interleaved by ``pixel_shuffle``:
    the same map as ``coin_core.models.subpixel.upsample_nearest_conv3x3``, in ops that ONNX has."""
    from coin_core.models.subpixel import merge_kernel

    o = conv.weight.shape[0]
    b, _, h, w = v.shape
    bias = None if conv.bias is None else conv.bias.repeat(4)
    y = F.conv2d(F.pad(v, (1, 1, 1, 1)), merge_kernel(conv.weight), bias)  # channels (a, c, o)
    phases = [
        y[:, (2 * a + c) * o : (2 * a + c + 1) * o, a : a + h, c : c + w] for a in (0, 1) for c in (0, 1)
    ]
    return F.pixel_shuffle(torch.stack(phases, dim=2).reshape(b, 4 * o, h, w), 2)  # channels (o, a, c)


@contextlib.contextmanager
def _exportable_subpixel() -> Iterator[None]:
    import coin_core.models.generator as gen

    original = gen.upsample_nearest_conv3x3
    gen.upsample_nearest_conv3x3 = subpixel_shuffled
    try:
        yield
    finally:
        gen.upsample_nearest_conv3x3 = original


def export_onnx(pair: EncoderGenerator, example: torch.Tensor, path: Path) -> Path:
    """Write ``pair`` as an fp32 ONNX graph with the batch size of ``example`` fixed."""
    with torch.no_grad(), _exportable_subpixel(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(
            pair, (example,), str(path), dynamo=False, input_names=["x"], output_names=["x_cf"],
            opset_version=ONNX_OPSET,
        )  # fmt: skip
    return path


def build_runner(
    runtime: str, pair: EncoderGenerator, example: torch.Tensor, workdir: Path, threads: int = 1
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function that runs ``pair`` on one batch shaped like ``example`` under ``runtime``.

    ``example``'s memory format is the layout the torch runtimes use; ONNX Runtime and OpenVINO get
    plain NCHW arrays and choose their own layouts."""
    why = missing(runtime)
    if why:
        raise RuntimeError(why)
    torch.set_num_threads(threads)
    if runtime == "torch":
        pair.to(memory_format=torch.channels_last if _is_cl(example) else torch.contiguous_format)
        return lambda x: pair(x)
    if runtime in ("torchscript", "onednn_graph"):
        torch.jit.enable_onednn_fusion(runtime == "onednn_graph")
        pair.to(memory_format=torch.channels_last if _is_cl(example) else torch.contiguous_format)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings; torch.jit.freeze's deprecation
            # freeze folds constants and batch norm into the convs where it can; not followed by
            # torch.jit.optimize_for_inference, whose MKL-DNN conversion fails on the conditional
            # batch norm ("mkldnn only support affine model": its BatchNorm2d has affine=False)
            traced = torch.jit.freeze(torch.jit.trace(pair, example, check_trace=False))
            for _ in range(2):  # the profiling executor specialises (and fuses) on the second call
                traced(example)
        return lambda x: traced(x)
    path = export_onnx(pair, example.contiguous(), workdir / f"eg_{runtime}.onnx")
    if runtime == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(None, {"x": _numpy(x)})[0])
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(path)), "CPU",
        {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32",
         "PERFORMANCE_HINT": "LATENCY"},
    )  # fmt: skip
    request = compiled.create_infer_request()
    return lambda x: torch.from_numpy(request.infer({0: _numpy(x)})[0].copy())


def _is_cl(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _numpy(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().float().numpy())


def check_outputs(pair: EncoderGenerator, run: Callable, x: torch.Tensor, batch: int) -> float:
    """Largest absolute difference between ``run`` and eager torch (fp32, contiguous) on ``x``,
    in the model's [-1, 1] units."""
    worst = 0.0
    with torch.no_grad():
        for k in range(0, x.shape[0], batch):
            xb = x[k : k + batch]
            want = pair(xb.contiguous())
            got = run(xb).float()
            worst = max(worst, float((got - want).abs().max()))
    return worst
