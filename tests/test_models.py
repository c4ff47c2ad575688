"""Model adapters: Keras (.h5 full, .keras, weights + zoo), ONNX, torch and callables.

Each backend is checked against the same computation done directly (the Keras
model object, numpy, torch), and gradients against finite differences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

import ecgxai
from ecgxai.classes import SCORED_CODES
from ecgxai.errors import (
    ConfigurationError,
    ModelLoadError,
    ModelOutputError,
    NotDifferentiableError,
    UnsafeModelError,
)

try:
    import keras
except ModuleNotFoundError:  # without the keras extra: the tests marked keras skip
    keras = None

FOUR_CODES = ["164889003", "426783006", "713427006", "59118001"]
ONNX_T, ONNX_L, ONNX_C = 100, 12, 4


# --- helpers -----------------------------------------------------------------------------------


def _inputs(reference_records: list[Path], n: int) -> np.ndarray:
    return np.stack([ecgxai.preprocess_for_model(r) for r in reference_records[:n]])


def _tiny_conv_model(length: int = 64, n_leads: int = 12, n_classes: int = 3, seed: int = 7,
                     dense_bias: float | None = None) -> keras.Model:
    """Conv1D(tanh, valid) -> GAP -> Dense(sigmoid) with seeded random weights and biases."""
    inputs = keras.Input((length, n_leads))
    h = keras.layers.Conv1D(
        5, 4, activation="tanh", padding="valid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=seed + 1),
    )(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    outputs = keras.layers.Dense(
        n_classes, activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=seed + 3),
    )(h)
    model = keras.Model(inputs, outputs)
    if dense_bias is not None:
        kernel, _ = model.layers[-1].get_weights()
        model.layers[-1].set_weights([kernel, np.full(n_classes, dense_bias, dtype=np.float32)])
    return model


def _numpy_logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The tiny conv model's pre-sigmoid output computed by hand in float64."""
    conv_w, conv_b = (w.astype(np.float64) for w in model.layers[1].get_weights())
    dense_w, dense_b = (w.astype(np.float64) for w in model.layers[-1].get_weights())
    x = np.asarray(x, dtype=np.float64)
    k = conv_w.shape[0]
    steps = x.shape[1] - k + 1
    conv = sum(np.einsum("ntc,cf->ntf", x[:, j : j + steps], conv_w[j]) for j in range(k)) + conv_b
    return np.tanh(conv).mean(axis=1) @ dense_w + dense_b


def _central_differences(fn, x: np.ndarray, positions: list[tuple[int, int]], eps: float = 1e-4
                         ) -> np.ndarray:
    """d fn / d x[0, t, l] at each position by central differences, in float64."""
    out = []
    for t, lead in positions:
        up, down = x.astype(np.float64), x.astype(np.float64)
        up[0, t, lead] += eps
        down[0, t, lead] -= eps
        out.append((fn(up) - fn(down)) / (2 * eps))
    return np.array(out)


def _assert_rel_close(actual: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    scale = np.abs(expected).max()
    assert scale > 0, "finite differences are all zero: the check would be vacuous"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# --- Keras: full .h5, .keras round trip ---------------------------------------------------------


@pytest.mark.keras
@pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")
def test_full_keras2_h5_model_matches_direct_call(reference_dir: Path, reference_records: list[Path]):
    classifier = ecgxai.load_model(reference_dir / "model" / "cnn_1d_final.h5")
    x = _inputs(reference_records, 3)

    probs = classifier.predict(x)
    direct = np.asarray(classifier.model(x, training=False))

    assert classifier.backend == "keras"
    assert probs.shape == (3, 27)
    assert probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs, direct, atol=1e-6, rtol=0)
    assert classifier.class_names == SCORED_CODES
    assert classifier.input_shape == (5000, 12)


def test_keras_file_round_trip(reference_model, reference_records: list[Path], tmp_path: Path):
    path = tmp_path / "m.keras"
    reference_model.model.save(path)
    reloaded = ecgxai.load_model(path)
    x = _inputs(reference_records, 2)

    np.testing.assert_allclose(reloaded.predict(x), reference_model.predict(x), atol=1e-6, rtol=0)
    assert reloaded.class_names == reference_model.class_names
    assert reloaded.source == str(path)


def _lambda_model() -> keras.Model:
    inputs = keras.Input((50, 12))
    h = keras.layers.Lambda(lambda t: t * 2)(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(h))


@pytest.mark.keras
def test_safe_mode_refuses_lambda_in_keras_file(tmp_path: Path):
    path = tmp_path / "lambda.keras"
    _lambda_model().save(path)
    with pytest.raises(UnsafeModelError):
        ecgxai.load_model(path, class_names=FOUR_CODES[:3])
    # the refusal is the safety check, not a broken file: an explicit opt-out loads it
    trusted = ecgxai.load_model(path, class_names=FOUR_CODES[:3], safe_mode=False)
    assert trusted.predict(np.ones((1, 50, 12), dtype=np.float32)).shape == (1, 3)


@pytest.mark.keras
def test_safe_mode_refuses_lambda_in_legacy_h5(tmp_path: Path):
    path = tmp_path / "lambda.h5"
    try:
        _lambda_model().save(path)
    except Exception as exc:  # keras versions that dropped legacy HDF5 writing
        pytest.skip(f"this Keras cannot write legacy .h5 full models ({type(exc).__name__}: {exc})")
    with pytest.raises(UnsafeModelError, match="Lambda"):
        ecgxai.load_model(path, class_names=FOUR_CODES[:3])


# --- loading errors -------------------------------------------------------------------------------


@pytest.mark.keras
def test_weights_only_h5_needs_architecture(tmp_path: Path):
    path = tmp_path / "tiny.weights.h5"
    _tiny_conv_model().save_weights(path)
    with pytest.raises(ModelLoadError, match="architecture"):
        ecgxai.load_model(path, class_names=FOUR_CODES[:3])


@pytest.mark.keras
def test_reference_weights_without_architecture_are_refused(reference_dir: Path):
    with pytest.raises(ModelLoadError, match="architecture"):
        ecgxai.load_model(reference_dir / "model" / "resnet_final_weights.h5")


def test_unknown_architecture_lists_known_names(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="physionet2020_resnet") as info:
        ecgxai.load_model(tmp_path / "w.h5", architecture="no_such_net")
    assert "no_such_net" in str(info.value)


def test_missing_model_file(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="not found"):
        ecgxai.load_model(tmp_path / "absent.keras")


def test_unknown_model_suffix(tmp_path: Path):
    path = tmp_path / "model.xyz"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match=r"\.xyz"):
        ecgxai.load_model(path)


@pytest.mark.keras
def test_wrong_number_of_class_names(tmp_path: Path):
    path = tmp_path / "tiny.keras"
    _tiny_conv_model(n_classes=3).save(path)
    with pytest.raises(ModelOutputError, match="3 outputs but 4 class names"):
        ecgxai.load_model(path, class_names=FOUR_CODES)
    assert ecgxai.load_model(path, class_names=FOUR_CODES[:3]).n_classes == 3


# --- gradients -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_keras():
    model = _tiny_conv_model()
    classifier = ecgxai.load_model(model, class_names=FOUR_CODES[:3])
    x = np.random.default_rng(3).normal(size=(1, 64, 12)).astype(np.float32)
    return model, classifier, x


def _positions(seed: int = 11, n: int = 10) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    return list(zip(rng.integers(0, 64, n).tolist(), rng.integers(0, 12, n).tolist(), strict=True))


def test_hand_built_forward_matches_predict(tiny_keras):
    model, classifier, x = tiny_keras
    np.testing.assert_allclose(classifier.predict(x), expit(_numpy_logits(model, x)), atol=1e-6)


@pytest.mark.parametrize("target", [0, 2])
def test_logit_gradient_matches_finite_differences(tiny_keras, target: int):
    model, classifier, x = tiny_keras
    grad = classifier.gradient(x, target, score="logit")
    assert grad.shape == x.shape and grad.dtype == np.float32

    positions = _positions()
    fd = _central_differences(lambda z: _numpy_logits(model, z)[0, target], x, positions)
    _assert_rel_close(np.array([grad[0, t, lead] for t, lead in positions]), fd, rtol=1e-2)


@pytest.mark.parametrize("target", [0, 1])
def test_probability_gradient_matches_finite_differences(tiny_keras, target: int):
    model, classifier, x = tiny_keras
    grad = classifier.gradient(x, target, score="probability")

    positions = _positions(seed=5)
    fd = _central_differences(lambda z: expit(_numpy_logits(model, z))[0, target], x, positions)
    _assert_rel_close(np.array([grad[0, t, lead] for t, lead in positions]), fd, rtol=1e-2)


def test_gradient_target_by_code_equals_by_index(tiny_keras):
    _, classifier, x = tiny_keras
    by_code = classifier.gradient(x, FOUR_CODES[1])
    np.testing.assert_array_equal(by_code, classifier.gradient(x, 1))
    assert not np.array_equal(by_code, classifier.gradient(x, 0))


@pytest.mark.keras
def test_logit_gradient_survives_saturated_sigmoid():
    """With p == 1 in float32, the logit gradient must still be the pre-activation gradient."""
    model = _tiny_conv_model(dense_bias=40.0)
    classifier = ecgxai.load_model(model, class_names=FOUR_CODES[:3])
    x = np.random.default_rng(4).normal(size=(1, 64, 12)).astype(np.float32)
    assert np.all(classifier.predict(x) == 1.0)

    positions = _positions(seed=2)
    fd = _central_differences(lambda z: _numpy_logits(model, z)[0, 0], x, positions)
    grad = classifier.gradient(x, 0, score="logit")
    _assert_rel_close(np.array([grad[0, t, lead] for t, lead in positions]), fd, rtol=1e-2)


def test_reference_model_gradient(reference_model, reference_records: list[Path]):
    x = _inputs(reference_records, 1)
    p = reference_model.predict(x)[0].astype(np.float64)
    target = int(np.argmin(np.abs(p - 0.5)))  # least saturated class: p(1-p) well away from 0

    g_logit = reference_model.gradient(x, target, score="logit")
    g_prob = reference_model.gradient(x, target, score="probability")

    assert g_logit.shape == (1, 5000, 12)
    assert np.all(np.isfinite(g_logit)) and np.any(g_logit != 0)
    assert np.all(np.isfinite(g_prob)) and np.any(g_prob != 0)
    slope = p[target] * (1 - p[target])
    assert slope > 1e-3
    np.testing.assert_allclose(g_prob, slope * g_logit, rtol=1e-3, atol=1e-4 * np.abs(g_prob).max())


# --- counters --------------------------------------------------------------------------------


def test_counters_count_samples_and_batches(tiny_keras):
    _, classifier, _ = tiny_keras
    x = np.random.default_rng(0).normal(size=(70, 64, 12)).astype(np.float32)
    classifier.counter.reset()

    probs = classifier.predict(x, batch_size=32)

    assert probs.shape == (70, 3)
    assert classifier.counter.forward_samples == 70
    assert classifier.counter.forward_batches == 3
    classifier.predict(x[:5])  # default batch size 16: one more batch
    assert (classifier.counter.forward_samples, classifier.counter.forward_batches) == (75, 4)
    classifier.gradient(x[:4], 0)
    assert classifier.counter.gradient_samples == 4
    classifier.counter.reset()
    assert (classifier.counter.forward_samples, classifier.counter.forward_batches,
            classifier.counter.gradient_samples) == (0, 0, 0)


def test_predict_sends_even_batches_of_at_most_the_requested_size():
    sizes: list[int] = []

    def model(x: np.ndarray) -> np.ndarray:
        sizes.append(len(x))
        return np.full((len(x), 2), 0.5, dtype=np.float32)

    classifier = ecgxai.load_model(model, class_names=FOUR_CODES[:2], input_length=20)
    sizes.clear()  # the load-time output-width probe also calls the model
    classifier.predict(np.zeros((70, 20, 12), dtype=np.float32), batch_size=32)
    assert sizes == [23, 24, 23]  # the fewest batches of <= 32, sized evenly (no slow small tail)
    assert (classifier.counter.forward_samples, classifier.counter.forward_batches) == (70, 3)
    sizes.clear()
    classifier.predict(np.zeros((100, 20, 12), dtype=np.float32))  # default batch size 16
    assert sizes == [14, 15, 14, 14, 14, 15, 14]


# --- ONNX -----------------------------------------------------------------------------------


def _onnx_model(path: Path, layout: str = "NTL", sigmoid: bool = True, bias: np.ndarray | None = None,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Save mean-over-time -> MatMul -> Add [-> Sigmoid] as ONNX; return (weight, bias)."""
    onnx = pytest.importorskip("onnx", reason="the onnx package is needed to build test graphs")
    helper, tp = onnx.helper, onnx.TensorProto
    rng = np.random.default_rng(seed)
    weight = rng.normal(scale=0.05, size=(ONNX_L, ONNX_C)).astype(np.float32)
    bias = rng.normal(scale=0.5, size=ONNX_C).astype(np.float32) if bias is None else bias
    shape = ["N", ONNX_T, ONNX_L] if layout == "NTL" else ["N", ONNX_L, ONNX_T]
    time_axis = 1 if layout == "NTL" else 2
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[time_axis], keepdims=0),
        helper.make_node("MatMul", ["m", "W"], ["z"]),
        helper.make_node("Add", ["z", "b"], ["logits"]),
    ]
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["probs"]))
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", tp.FLOAT, shape)],
        [helper.make_tensor_value_info("probs" if sigmoid else "logits", tp.FLOAT, ["N", ONNX_C])],
        initializer=[onnx.numpy_helper.from_array(weight, "W"), onnx.numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return weight, bias


def _numpy_onnx(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, sigmoid: bool = True) -> np.ndarray:
    z = x.astype(np.float64).mean(axis=1) @ weight + bias
    return expit(z) if sigmoid else z


@pytest.fixture
def onnx_runtime():
    return pytest.importorskip("onnxruntime", reason="onnxruntime is needed for the ONNX backend")


def _onnx_inputs(n: int = 5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=10, size=(n, ONNX_T, ONNX_L)).astype(np.float32)


def test_onnx_model_matches_numpy(onnx_runtime, tmp_path: Path):
    path = tmp_path / "tiny.onnx"
    weight, bias = _onnx_model(path)
    classifier = ecgxai.load_model(path, class_names=FOUR_CODES)
    x = _onnx_inputs()

    probs = classifier.predict(x)

    assert classifier.backend == "onnx"
    assert classifier.input_shape == (ONNX_T, ONNX_L)  # read from the graph's static dims
    assert probs.shape == (5, 4) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, _numpy_onnx(x, weight, bias), atol=1e-5)
    assert not classifier.differentiable
    with pytest.raises(NotDifferentiableError):
        classifier.gradient(x[:1], FOUR_CODES[0])


def test_onnx_nlt_layout(onnx_runtime, tmp_path: Path):
    path = tmp_path / "nlt.onnx"
    weight, bias = _onnx_model(path, layout="NLT", seed=3)
    classifier = ecgxai.load_model(path, class_names=FOUR_CODES, input_layout="NLT")
    x = _onnx_inputs(seed=2)

    assert classifier.input_shape == (ONNX_T, ONNX_L)  # callers still pass (N, T, L)
    np.testing.assert_allclose(classifier.predict(x), _numpy_onnx(x, weight, bias), atol=1e-5)


def test_onnx_logits_need_output_activation(onnx_runtime, tmp_path: Path):
    path = tmp_path / "logits.onnx"
    bias = np.array([-2.0, 3.0, 0.5, -1.0], dtype=np.float32)  # outside [0, 1] even for zero input
    weight, bias = _onnx_model(path, sigmoid=False, bias=bias)
    x = _onnx_inputs(seed=4)

    with pytest.raises(ModelOutputError, match="output_activation"):
        ecgxai.load_model(path, class_names=FOUR_CODES).predict(x)

    classifier = ecgxai.load_model(path, class_names=FOUR_CODES, output_activation="sigmoid")
    np.testing.assert_allclose(classifier.predict(x), _numpy_onnx(x, weight, bias), atol=1e-5)


def test_onnx_wrong_class_count_at_load(onnx_runtime, tmp_path: Path):
    path = tmp_path / "tiny.onnx"
    _onnx_model(path)
    with pytest.raises(ModelOutputError, match="4 outputs but 3 class names"):
        ecgxai.load_model(path, class_names=FOUR_CODES[:3])


# --- torch -----------------------------------------------------------------------------------


TORCH_T = 64


@pytest.fixture(scope="module")
def torch_module():
    torch = pytest.importorskip("torch", reason="torch is an optional backend and is not installed")

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(12, 6, 5)
            self.linear = torch.nn.Linear(6, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, L, T) -> logits (N, 4)
            return self.linear(torch.tanh(self.conv(x)).mean(dim=2))

    torch.manual_seed(0)
    return torch, Tiny().eval()


def _torch_inputs(n: int = 3) -> np.ndarray:
    return np.random.default_rng(8).normal(size=(n, TORCH_T, 12)).astype(np.float32)


def _torch_reference(torch, module, x: np.ndarray, target: int):
    """(probabilities, d raw[:, target] / dx, d sigmoid(raw)[:, target] / dx) through torch."""
    leaf = torch.from_numpy(x.copy()).requires_grad_(True)
    raw = module(leaf.transpose(1, 2))
    (g_logit,) = torch.autograd.grad(raw[:, target].sum(), leaf, retain_graph=True)
    (g_prob,) = torch.autograd.grad(torch.sigmoid(raw)[:, target].sum(), leaf)
    return torch.sigmoid(raw).detach().numpy(), g_logit.numpy(), g_prob.numpy()


def test_torchscript_file(torch_module, tmp_path: Path):
    torch, module = torch_module
    path = tmp_path / "m.pt"
    torch.jit.script(module).save(str(path))
    classifier = ecgxai.load_model(path, class_names=FOUR_CODES, input_length=TORCH_T,
                                   input_layout="NLT", output_activation="sigmoid")
    x = _torch_inputs()
    probs, g_logit, g_prob = _torch_reference(torch, module, x, target=2)

    assert classifier.backend == "torch" and classifier.differentiable
    np.testing.assert_allclose(classifier.predict(x), probs, atol=1e-6)
    np.testing.assert_allclose(classifier.gradient(x, 2, score="logit"), g_logit, atol=1e-6)
    np.testing.assert_allclose(classifier.gradient(x, FOUR_CODES[2], score="probability"), g_prob,
                               atol=1e-6)
    assert np.abs(g_logit).max() > 1e-3


def test_torch_module_object(torch_module):
    torch, module = torch_module
    classifier = ecgxai.load_model(module, class_names=FOUR_CODES, input_length=TORCH_T,
                                   input_layout="NLT", output_activation="sigmoid")
    x = _torch_inputs(n=5)
    probs, g_logit, _ = _torch_reference(torch, module, x, target=0)

    np.testing.assert_allclose(classifier.predict(x), probs, atol=1e-6)
    np.testing.assert_allclose(classifier.gradient(x, 0), g_logit, atol=1e-6)


def test_torch_logits_without_activation_are_refused(torch_module):
    _, module = torch_module
    x = 50 * _torch_inputs()  # large inputs: logits well outside [0, 1]
    with pytest.raises(ModelOutputError, match="output_activation"):  # at the load probe or predict
        ecgxai.load_model(module, class_names=FOUR_CODES, input_length=TORCH_T,
                          input_layout="NLT").predict(x)


# --- callables -------------------------------------------------------------------------------


def test_numpy_callable_model():
    weights = np.linspace(-0.01, 0.01, 12 * 2).reshape(12, 2)

    def mean_model(x: np.ndarray) -> np.ndarray:
        return expit(x.mean(axis=1) @ weights)

    classifier = ecgxai.load_model(mean_model, class_names=FOUR_CODES[:2], input_length=200,
                                   units="mV", batch_size=7)
    x = np.random.default_rng(9).normal(size=(10, 200, 12)).astype(np.float32)

    np.testing.assert_allclose(classifier.predict(x), mean_model(x.astype(np.float64)), atol=1e-6)
    assert classifier.predict(x[0]).shape == (1, 2)  # one (T, L) input
    assert not classifier.differentiable
    with pytest.raises(NotDifferentiableError):
        classifier.gradient(x, 0)

    info = classifier.describe()
    assert info["backend"] == "callable"
    assert info["source"] == "mean_model"
    assert info["class_names"] == FOUR_CODES[:2]
    assert info["n_classes"] == 2
    assert info["input_length"] == 200
    assert info["n_leads"] == 12
    assert info["units"] == "mV"
    assert info["lead_names"] == list(ecgxai.config.STANDARD_LEADS)
    assert info["output_activation"] is None


def test_callable_wrong_width_is_refused_at_load():
    def three_columns(x: np.ndarray) -> np.ndarray:
        return np.full((len(x), 3), 0.5)

    with pytest.raises(ModelOutputError, match="class names"):
        ecgxai.load_model(three_columns, class_names=FOUR_CODES, input_length=20)
