"""The incremental engine's view of a torch module: its split into a time-local trunk, global pooling and
a head, found in the module's ``torch.fx`` graph, and the two parts as graph modules sharing its
submodules (so its weights).

Feature maps are (N, C, T), time last. An (N, T, L) module must move time last with a
``transpose``/``permute`` of its input before anything else touches it.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgxai.errors import NotIncrementalError
from ecgxai.models.incremental import Pool, Reach, SplitModel

if TYPE_CHECKING:
    from ecgxai.models.torch_backend import TorchClassifier

_POOLED, _CONSTANT, _TIME_FIRST = "pooled", "constant", "time first"
_POINTWISE_MODULES = ("ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
                      "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Identity", "Dropout",
                      "Dropout1d", "AlphaDropout", "BatchNorm1d")
_POINTWISE_METHODS = ("relu", "sigmoid", "tanh", "add", "sub", "mul", "contiguous")


def torch_split(classifier: TorchClassifier) -> SplitModel:
    """The classifier's module cut after its trunk, or NotIncrementalError naming what does not fit."""
    torch = classifier.torch
    if isinstance(classifier.module, torch.jit.ScriptModule):
        raise NotIncrementalError("TorchScript modules have no torch.fx graph to split")
    try:
        traced = torch.fx.symbolic_trace(classifier.module)
    except Exception as exc:  # tracing runs arbitrary forward code: any failure means no graph
        raise NotIncrementalError(f"torch.fx cannot trace the module ({type(exc).__name__}: {exc})") from None
    from torch.fx.passes.shape_prop import ShapeProp

    with torch.no_grad():
        ShapeProp(traced).propagate(classifier._laid_out(torch.zeros((1, *classifier.input_shape))))
    kinds: dict[Any, Reach | str] = {}
    pools: list[tuple[Pool, Any]] = []  # (pool, pooling node)
    for node in traced.graph.nodes:
        if node.op == "output":
            output = node.args[0]
        elif node.op == "placeholder":
            kinds[node] = _TIME_FIRST if classifier.input_layout == "NTL" else Reach()
        else:
            kinds[node] = _node_kind(torch, traced, node, kinds, pools)
    if not isinstance(output, torch.fx.Node) or kinds[output] != _POOLED or not pools:
        raise NotIncrementalError("the module's output does not depend on time through global pooling")
    split = pools[0][1].args[0]
    if any(node.args[0] is not split for _, node in pools):
        raise NotIncrementalError("the module pools more than one feature map")
    pooled = [node for _, node in pools]
    trunk = _graph_module(torch, traced, _needed(traced, split, ()), [_placeholder(traced)], split)
    head = _graph_module(torch, traced, _needed(traced, output, pooled), pooled, output)
    shapes = [tuple(node.meta["tensor_meta"].shape[1:]) for node in pooled]

    def run_trunk(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return trunk(classifier._laid_out(torch.from_numpy(x))).transpose(1, 2).float().numpy()

    def run_head(values: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return head(*[torch.from_numpy(v.reshape(len(v), *shape))
                          for v, shape in zip(values, shapes, strict=True)]).float().numpy()

    return SplitModel(trunk=run_trunk, head=run_head, pools=tuple(p for p, _ in pools), reach=kinds[split],
                      split=_label(split))


def _label(node: Any) -> str:
    """A node's name as the user knows it: the module path for a module call."""
    return str(node.target) if node.op == "call_module" else node.name


def _node_kind(torch: Any, traced: Any, node: Any, kinds: dict[Any, Reach | str],
               pools: list[tuple[Pool, Any]]) -> Reach | str:
    """The reach of a node's output, _POOLED for a global pooling or a node after one, _CONSTANT for one
    that does not depend on the input."""
    inputs = [kinds[n] for n in node.all_input_nodes]
    reaches = [k for k in inputs if isinstance(k, Reach)]
    if node.op == "get_attr" or not inputs:
        return _CONSTANT
    if _TIME_FIRST in inputs:
        if _moves_time_last(node) and len(inputs) == 1:
            return Reach()
        raise NotIncrementalError(f"{_label(node)} uses the (N, T, L) input before moving time last")
    if not reaches:
        return _POOLED if _POOLED in inputs else _CONSTANT
    if _POOLED in inputs:
        raise NotIncrementalError(f"{_label(node)} combines pooled and time-resolved tensors")
    target = traced.get_submodule(node.target) if node.op == "call_module" else node.target
    pool = _pool(torch, node, target)
    if pool is not None:
        pools.append((pool, node))
        return _POOLED
    reach = Reach.merge(reaches, _label(node))
    if node.op == "call_module" and type(target).__name__ in ("Conv1d", "MaxPool1d", "AvgPool1d"):
        return _sliding_reach(target, reach, _label(node))
    if _CONSTANT in inputs and any(_varies_in_time(n) for n in node.all_input_nodes if kinds[n] == _CONSTANT):
        raise NotIncrementalError(f"{_label(node)} combines a feature map with a tensor that varies in time")
    if _is_pointwise(torch, node, target) or (target in (torch.cat, torch.concat) and _channel_dim(node)):
        return reach
    kind = getattr(target, "__name__", type(target).__name__)
    raise NotIncrementalError(f"{_label(node)} ({kind}) is not a time-local operation the engine knows, "
                              "and it comes before global pooling")


def _moves_time_last(node: Any) -> bool:
    """True for ``x.transpose(1, 2)`` (either order, or -1/-2) or ``x.permute(0, 2, 1)``."""
    if node.op != "call_method":
        return False
    dims = tuple(node.args[1:]) or tuple(node.kwargs.values())
    if node.target == "transpose":
        return {d % 3 for d in dims} == {1, 2}
    return node.target == "permute" and tuple(d % 3 for d in np.ravel(dims)) == (0, 2, 1)


def _pool(torch: Any, node: Any, target: Any) -> Pool | None:
    """"avg" or "max" for a global pooling over time of a feature map, else None."""
    functional = torch.nn.functional
    if node.op == "call_module":
        size = getattr(target, "output_size", None)
        modules: dict[str, Pool] = {"AdaptiveAvgPool1d": "avg", "AdaptiveMaxPool1d": "max"}
        return modules.get(type(target).__name__) if np.ravel(size).tolist() == [1] else None
    if target in (functional.adaptive_avg_pool1d, functional.adaptive_max_pool1d):
        size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
        if np.ravel(size).tolist() == [1]:
            return "avg" if target is functional.adaptive_avg_pool1d else "max"
        return None
    reductions: dict[Any, Pool] = {torch.mean: "avg", torch.amax: "max", "mean": "avg", "amax": "max"}
    if target in reductions:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        if dims is not None and [d % 3 for d in np.ravel(dims)] == [2]:
            return reductions[target]
    return None


def _sliding_reach(module: Any, reach: Reach, name: str) -> Reach:
    """The reach after an ``nn.Conv1d``, ``nn.MaxPool1d`` or ``nn.AvgPool1d``."""
    if getattr(module, "ceil_mode", False) or getattr(module, "padding_mode", "zeros") == "circular":
        raise NotIncrementalError(f"{name} uses ceil_mode or circular padding")
    kernel, stride = int(np.ravel(module.kernel_size)[0]), int(np.ravel(module.stride)[0])
    dilation = int(np.ravel(getattr(module, "dilation", 1))[0])
    padding = module.padding
    if isinstance(padding, str):
        pad_left = 0 if padding == "valid" else dilation * (kernel - 1) // 2
    else:
        pad_left = int(np.ravel(padding)[0])
    return reach.then(kernel, stride, dilation, pad_left)


def _is_pointwise(torch: Any, node: Any, target: Any) -> bool:
    """True for an operation computing each time step from the same time step of its inputs."""
    functional = torch.nn.functional
    if node.op == "call_module":
        return type(target).__name__ in _POINTWISE_MODULES
    if node.op == "call_method":
        return target in _POINTWISE_METHODS
    return target in (operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
                      torch.mul, torch.relu, torch.sigmoid, torch.tanh, functional.relu, functional.relu6,
                      functional.leaky_relu, functional.elu, functional.gelu, functional.silu,
                      functional.dropout)


def _channel_dim(node: Any) -> bool:
    """True when a concatenation joins (N, C, T) maps along the channel axis."""
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    return dim % 3 == 1


def _varies_in_time(node: Any) -> bool:
    """True when a constant tensor, broadcast against an (N, C, T) map, would differ along time."""
    meta = node.meta.get("tensor_meta")
    return meta is not None and len(meta.shape) > 0 and meta.shape[-1] != 1


def _placeholder(traced: Any) -> Any:
    return next(node for node in traced.graph.nodes if node.op == "placeholder")


def _needed(traced: Any, output: Any, given: Sequence[Any]) -> list[Any]:
    """The nodes (in graph order, placeholder and ``given`` excluded) computing ``output``."""
    wanted, keep = {output}, []
    for node in reversed(list(traced.graph.nodes)):
        if node in wanted and node not in given and node.op != "placeholder":
            keep.append(node)
            wanted.update(node.all_input_nodes)
    return keep[::-1]


def _graph_module(torch: Any, traced: Any, nodes: Sequence[Any], inputs: Sequence[Any], output: Any) -> Any:
    """A graph module running ``nodes`` from placeholders standing for ``inputs`` to ``output``."""
    graph = torch.fx.Graph()
    values = {node: graph.placeholder(f"input_{i}") for i, node in enumerate(inputs)}
    for node in nodes:
        values[node] = graph.node_copy(node, lambda n: values[n])
    graph.output(values[output])
    return torch.fx.GraphModule(traced, graph)
