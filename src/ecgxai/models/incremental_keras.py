"""The incremental engine's view of a Keras model: its split into a time-local trunk, global pooling and
a head, found by walking the functional graph, and compiled functions running trunk and head.

Trunk and head run the model's own layers node by node (as a functional model does), so they share
its weights and add nothing to its graph; the trunk is one ``tf.function`` for crops of any length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgxai.errors import NotIncrementalError
from ecgxai.models.incremental import Pool, Reach, SplitModel
from ecgxai.models.keras_import import import_keras

if TYPE_CHECKING:
    from ecgxai.models.keras_backend import KerasClassifier

keras, tf = import_keras()
_layers = keras.layers
#: Layers computing each time step from the same time step of their inputs.
_POINTWISE = (_layers.Activation, _layers.ReLU, _layers.LeakyReLU, _layers.ELU, _layers.Dropout,
              _layers.SpatialDropout1D, _layers.GaussianNoise, _layers.GaussianDropout, _layers.AlphaDropout,
              _layers.Identity, _layers.Add, _layers.Subtract, _layers.Multiply, _layers.Average,
              _layers.Maximum, _layers.Minimum, _layers.Dense)
#: Pointwise as long as they act on the channel axis (the last) only.
_CHANNEL_AXIS = (_layers.BatchNormalization, _layers.LayerNormalization, _layers.Concatenate, _layers.Softmax)
_SLIDING = (_layers.Conv1D, _layers.SeparableConv1D, _layers.DepthwiseConv1D, _layers.MaxPooling1D,
            _layers.AveragePooling1D)
_POOLS: dict[type, Pool] = {_layers.GlobalAveragePooling1D: "avg", _layers.GlobalMaxPooling1D: "max"}
_POOLED = "pooled"  # the kind of a tensor that depends on the input only through global pooling


def keras_split(classifier: KerasClassifier) -> SplitModel:
    """The classifier's model cut after its trunk, or NotIncrementalError naming what does not fit."""
    model = classifier.model
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    if not hasattr(graph, "_nodes_by_depth"):
        raise NotIncrementalError(f"{model.name} is a subclassed Keras model: it has no graph to split")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise NotIncrementalError(f"{model.name} has {len(graph.inputs)} inputs and "
                                  f"{len(graph.outputs)} outputs")
    nodes = [node for depth in sorted(graph._nodes_by_depth, reverse=True)
             for node in graph._nodes_by_depth[depth] if not node.is_input]
    kinds: dict[int, Reach | str] = {id(graph.inputs[0]): Reach()}
    pools: list[tuple[Pool, Any, Any]] = []  # (pool, input tensor, output tensor)
    for node in nodes:
        kind = _node_kind(node, [kinds[id(t)] for t in node.input_tensors], pools)
        kinds.update((id(t), kind) for t in node.outputs)
    output = graph.outputs[0]
    if kinds[id(output)] != _POOLED or not pools:
        raise NotIncrementalError(f"{model.name}'s output does not depend on time through global pooling")
    split = pools[0][1]
    if any(t is not split for _, t, _ in pools):
        raise NotIncrementalError(f"{model.name} pools more than one feature map")
    pooled = [out for _, _, out in pools]
    trunk = tf.function(_run_nodes(_needed(nodes, split, ()), [graph.inputs[0]], split),
                        input_signature=[tf.TensorSpec((None, None, classifier.n_leads), tf.float32)])
    head = tf.function(_run_nodes(_needed(nodes, output, pooled), pooled, output),
                       input_signature=[tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in pooled])
    shapes = [tuple(t.shape[1:]) for t in pooled]

    def run_head(values: list[np.ndarray]) -> np.ndarray:
        return head(*[tf.constant(v.reshape(len(v), *shape)) for v, shape in zip(values, shapes, strict=True)]
                    ).numpy()

    return SplitModel(trunk=lambda x: trunk(tf.constant(x)).numpy(), head=run_head,
                      pools=tuple(p for p, _, _ in pools), reach=kinds[id(split)],
                      split=split._keras_history.operation.name)


def _node_kind(node: Any, inputs: list[Reach | str], pools: list[tuple[Pool, Any, Any]]) -> Reach | str:
    """The reach of a node's output, or _POOLED for a global pooling or a node after one."""
    layer = node.operation
    reaches = [k for k in inputs if isinstance(k, Reach)]
    if not reaches:
        return _POOLED
    if len(reaches) < len(inputs):
        raise NotIncrementalError(f"{layer.name} combines pooled and time-resolved tensors")
    pool = next((p for cls, p in _POOLS.items() if isinstance(layer, cls)), None)
    if pool is not None:
        _require_channels_last(layer)
        pools.append((pool, node.input_tensors[0], node.outputs[0]))
        return _POOLED
    reach = Reach.merge(reaches, layer.name)
    if isinstance(layer, _SLIDING):
        return _sliding_reach(layer, reach, node.input_tensors[0].shape[1])
    if isinstance(layer, _CHANNEL_AXIS) and np.all(np.asarray(layer.axis) % 3 == 2):
        return reach
    if isinstance(layer, _POINTWISE):
        return reach
    raise NotIncrementalError(f"layer {layer.name} ({type(layer).__name__}) is not a time-local layer "
                              "the engine knows, and it comes before global pooling")


def _sliding_reach(layer: Any, reach: Reach, length: int | None) -> Reach:
    """The reach after a 1-D convolution or pooling layer; TensorFlow pads 'same' by
    (out - 1) * stride + span + 1 - length samples (span at stride 1), the smaller half on the left."""
    _require_channels_last(layer)
    kernel = (layer.pool_size if hasattr(layer, "pool_size") else layer.kernel_size)[0]
    stride, dilation = layer.strides[0], getattr(layer, "dilation_rate", (1,))[0]
    span = dilation * (kernel - 1)
    if layer.padding == "valid":
        return reach.then(kernel, stride, dilation, 0)
    if layer.padding == "causal":
        return reach.then(kernel, stride, dilation, span)
    if stride == 1:
        return reach.then(kernel, stride, dilation, span // 2)
    if length is None:
        raise NotIncrementalError(f"layer {layer.name} pads 'same' with stride {stride} an input of "
                                  "unknown length")
    out = -(-length // stride)
    return reach.then(kernel, stride, dilation, max((out - 1) * stride + span + 1 - length, 0) // 2)


def _require_channels_last(layer: Any) -> None:
    """Refuse a layer whose time axis is not the second."""
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise NotIncrementalError(f"layer {layer.name} is channels_first")


def _needed(nodes: Sequence[Any], output: Any, given: Sequence[Any]) -> list[Any]:
    """The nodes (in graph order) computing ``output`` from the model input and the ``given`` tensors."""
    wanted, stop, keep = {id(output)}, {id(t) for t in given}, []
    for node in reversed(nodes):
        if any(id(t) in wanted for t in node.outputs) and not any(id(t) in stop for t in node.outputs):
            keep.append(node)
            wanted.update(id(t) for t in node.input_tensors)
    return keep[::-1]


def _run_nodes(nodes: Sequence[Any], inputs: Sequence[Any], output: Any) -> Callable[..., Any]:
    """A function running ``nodes`` in inference mode from values of ``inputs`` to ``output``, as a
    functional model runs its graph (``Functional._run_through_graph``)."""

    def run(*values: Any) -> Any:
        tensors = {id(t): v for t, v in zip(inputs, values, strict=True)}
        for node in nodes:
            args, kwargs = node.arguments.fill_in(tensors)
            if "training" in getattr(node.operation, "_call_context_args", ()):
                kwargs["training"] = False
            results = keras.tree.flatten(node.operation(*args, **kwargs))
            tensors.update(zip((id(t) for t in node.outputs), results, strict=True))
        return tensors[id(output)]

    return run
