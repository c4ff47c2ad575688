"""PyTorch models (TorchScript files or ``nn.Module`` objects; optional extra); differentiable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ecgxai.errors import ConfigurationError, MissingDependencyError, ModelLoadError
from ecgxai.models.base import Classifier, Score
from ecgxai.models.incremental import SplitModel
from ecgxai.models.onnx_backend import InputLayout


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("PyTorch models need torch: pip install torch") from None
    return torch


def is_torch_module(obj: Any) -> bool:
    """True for a ``torch.nn.Module`` (without importing torch when it is absent)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


class TorchClassifier(Classifier):
    """A torch module run in inference mode on the CPU; gradients through autograd."""

    backend = "torch"
    differentiable = True

    def __init__(self, module: Any, input_layout: InputLayout = "NTL", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.torch = _torch()
        self.module = module.eval()
        self.input_layout = input_layout

    def _laid_out(self, t: Any) -> Any:
        """(N, T, L) tensor in the layout the module expects."""
        return t.transpose(1, 2) if self.input_layout == "NLT" else t

    def _forward(self, x: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return self.module(self._laid_out(self.torch.from_numpy(x))).float().numpy()

    def scores(self, x: Any, score: Score = "logit") -> Any:
        """(N, C) class scores (logits or probabilities) of an (N, T, L) tensor, differentiable: what
        :meth:`gradient` differentiates, and what Captum's methods attribute."""
        raw = self.module(self._laid_out(x)).float()
        return score_from_raw(self.torch, raw, self.output_activation, score)

    def _score_gradient(self, x: np.ndarray, index: int, score: Score) -> np.ndarray:
        leaf = self.torch.from_numpy(x.copy()).requires_grad_(True)
        (grad,) = self.torch.autograd.grad(self.scores(leaf, score)[:, index].sum(), leaf)
        return grad.numpy()

    def _split_model(self) -> SplitModel:
        from ecgxai.models.incremental_torch import torch_split

        return torch_split(self)

    def _resolve_conv_layer(self, layer: str | None) -> str:
        """``layer`` checked to name a submodule, or the last ``nn.Conv1d`` in registration order."""
        if isinstance(self.module, self.torch.jit.ScriptModule):
            raise ConfigurationError(f"{self.source}: TorchScript modules run no forward hooks, so "
                                     "Grad-CAM cannot read a layer; load the nn.Module instead")
        modules = dict(self.module.named_modules())
        convs = [name for name, m in modules.items() if isinstance(m, self.torch.nn.Conv1d)]
        if layer is None:
            if not convs:
                raise ConfigurationError(f"{self.source}: no nn.Conv1d module for Grad-CAM; pass a "
                                         "module name (gradcam_layer) whose output is (N, C, T')")
            return convs[-1]
        if not layer or layer not in modules:
            raise ConfigurationError(f"{self.source}: no module named {layer!r}; its Conv1d modules "
                                     f"are {convs}")
        return layer

    def _activation_gradient(self, x: np.ndarray, index: int, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """Catch the layer's (N, C, T') output with a forward hook, differentiate the logit by it."""
        captured: list[Any] = []
        module = dict(self.module.named_modules())[layer]
        handle = module.register_forward_hook(lambda _m, _args, out: captured.append(out))
        try:
            leaf = self.torch.from_numpy(x.copy()).requires_grad_(True)
            raw = self.module(self._laid_out(leaf)).float()
        finally:
            handle.remove()
        if len(captured) != 1 or not hasattr(captured[0], "dim") or captured[0].dim() != 3:
            raise ConfigurationError(f"{self.source}: module {layer!r} must run once per forward pass "
                                     "and return one (N, C, T') tensor for Grad-CAM")
        target = score_from_raw(self.torch, raw, self.output_activation, "logit")[:, index]
        (grad,) = self.torch.autograd.grad(target.sum(), captured[0])
        return (captured[0].detach().transpose(1, 2).float().numpy(),
                grad.transpose(1, 2).float().numpy())


def score_from_raw(torch: Any, raw: Any, activation: str | None, score: Score) -> Any:
    """Logit or probability from raw output, whether the module emits logits or probabilities."""
    if activation is None:
        if score == "probability":
            return raw
        p = raw.clamp(1e-7, 1 - 1e-7)
        return torch.log(p) - torch.log1p(-p)
    if score == "logit":
        return raw
    return torch.sigmoid(raw) if activation == "sigmoid" else torch.softmax(raw, dim=-1)


def load_torchscript(path: Path) -> Any:
    """Load a TorchScript file on the CPU (TorchScript archives hold no pickled Python code)."""
    torch = _torch()
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot load TorchScript model ({type(exc).__name__}: {exc})") from None
