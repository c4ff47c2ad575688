"""The incremental inference engine (issue 17): inputs that differ from a base only inside a window.

Every test compares against the full forward pass of the same classifier: the engine must agree
within 1e-5 in probability, refuse models it cannot split (the caller then gets exactly
``predict``), refuse a wrong reach through its self-check, and count its work honestly.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError
from ecgxai.io.preprocessing import to_model_input
from ecgxai.models.incremental import Reach
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import generate_dataset

try:
    import keras
except ModuleNotFoundError:  # without the keras extra: the tests marked keras skip
    keras = None

TOLERANCE = 1e-5
LOGGER = "ecgxai.models.incremental"


# --- helpers -----------------------------------------------------------------------------------


def _local_batch(x: np.ndarray, rng: np.random.Generator, length: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``x`` (T, L), each changed only inside its window: windows touching sample 0 and
    sample T, single samples, interior T/100 and T/20 windows (0.1 s and 0.5 s of 10 s), an empty one
    and the whole input; for a record of ``length`` samples zero-padded to T, also across and inside
    the padding. Odd rows zero one lead, even rows add noise to all."""
    total, n_leads = x.shape
    width = total // 100
    start = int(rng.integers(width, total - 6 * width))
    windows = [(0, width), (total - width, total), (0, 1), (total - 1, total), (start, start + width),
               (start, start + 5 * width), (start, start), (0, total)]
    if length is not None:
        windows += [(length - 25, length + 25), (length + 100, length + 150)]
    batch = np.repeat(x[None], len(windows), axis=0)
    scale = float(np.abs(x).max()) or 1.0
    for m, (a, b) in enumerate(windows):
        if m % 2:
            batch[m, a:b, rng.integers(n_leads)] = 0.0
        else:
            batch[m, a:b] += rng.normal(0, scale / 4, (b - a, n_leads)).astype(np.float32)
    return batch, np.array(windows)


def _worst_difference(classifier: ecgxai.Classifier, inputs: list[tuple[str, np.ndarray, int | None]],
                      seed: int = 0) -> tuple[float, str]:
    """Largest |engine - full pass| probability over local perturbations of every input, and where."""
    rng = np.random.default_rng(seed)
    worst, where = 0.0, ""
    for name, x, length in inputs:
        batch, windows = _local_batch(x, rng, length)
        difference = np.abs(classifier.predict_local(x, batch, windows) - classifier.predict(batch))
        if difference.max() > worst:
            worst, where = float(difference.max()), f"{name}, window {windows[difference.max(1).argmax()]}"
    return worst, where


def _model_inputs(paths: list[str | Path], classifier: ecgxai.Classifier) -> list[np.ndarray]:
    return [to_model_input(ecgxai.read_record(p), maxlen=classifier.input_length, units=classifier.units,
                           lead_names=classifier.lead_names) for p in paths]


def _padded_copy(x: np.ndarray, length: int) -> np.ndarray:
    """``x`` as a record of ``length`` samples zero-padded to the model's length would be."""
    short = x.copy()
    short[length:] = 0.0
    return short


def _torch_cnn(torch):
    """Conv1d stride 2 ('same'-like padding), BN, ReLU, a residual add, a strided conv, then the
    concatenation of adaptive average and max pooling and a Linear head emitting logits; (N, T, L) input."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv1d(12, 16, 7, stride=2, padding=3), nn.BatchNorm1d(16), nn.ReLU(),
                nn.Conv1d(16, 32, 5, stride=2, padding=2), nn.BatchNorm1d(32), nn.ReLU())
            self.block = nn.Sequential(nn.Conv1d(32, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU(),
                                       nn.Conv1d(32, 32, 3, padding=1))
            self.down = nn.Conv1d(32, 32, 9, stride=2, padding=4)
            self.avg, self.max = nn.AdaptiveAvgPool1d(1), nn.AdaptiveMaxPool1d(1)
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 4))

        def forward(self, x):
            h = self.stem(x.transpose(1, 2))
            h = torch.relu(h + self.block(h))
            h = torch.relu(self.down(h))
            return self.head(torch.cat([self.avg(h), self.max(h)], dim=1))

    torch.manual_seed(0)
    net = Net()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm1d):  # non-trivial inference statistics
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.fixture(scope="module")
def synthetic_paths(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int | None]]:
    """Synthetic Challenge records: 10 s ones and 6 s ones (zero-padded to 5000 samples)."""
    root = tmp_path_factory.mktemp("synthetic")
    full = generate_dataset(root / "full", n_per_class=1, seed=5)
    short = generate_dataset(root / "short", n_per_class=1, seed=6, duration=6.0)
    return [(p, None) for p in full["path"]] + [(p, 3000) for p in short["path"]]


@pytest.fixture(scope="module")
def demo_model() -> ecgxai.Classifier:
    return ecgxai.load_model(DEMO_MODEL_PATH)


# --- agreement with the full forward pass --------------------------------------------------------


def test_reference_resnet_agrees_on_every_record(reference_model, reference_records):
    """All 70 reference records, eight windows each (edges, single samples, 0.1/0.5 s, empty, whole);
    every seventh record also as a zero-padded shorter record."""
    engine = reference_model.incremental()
    assert engine is not None
    assert (engine.receptive_field, engine.stride, engine.split) == (21, 1, "re_lu_8")
    xs = _model_inputs(reference_records, reference_model)
    inputs = [(p.name, x, None) for p, x in zip(reference_records, xs, strict=True)]
    inputs += [(f"{p.name} cut to {n}", _padded_copy(x, n), n)
               for p, x, n in zip(reference_records[::7], xs[::7], range(2600, 5000, 230), strict=False)]
    worst, where = _worst_difference(reference_model, inputs)
    assert worst <= TOLERANCE, where


def test_demo_cnn_agrees_on_synthetic_records(demo_model, synthetic_paths):
    engine = demo_model.incremental()
    assert engine is not None
    assert (engine.receptive_field, engine.stride, engine.split) == (87, 32, "relu5")
    assert engine.parts.pools == ("avg", "max")
    xs = _model_inputs([p for p, _ in synthetic_paths], demo_model)
    inputs = [(Path(p).name, x, n) for (p, n), x in zip(synthetic_paths, xs, strict=True)]
    worst, where = _worst_difference(demo_model, inputs)
    assert worst <= TOLERANCE, where


def test_torch_cnn_agrees_on_synthetic_records(synthetic_paths):
    torch = pytest.importorskip("torch", reason="torch is an optional backend and is not installed")
    classifier = ecgxai.load_model(_torch_cnn(torch), class_names=["a", "b", "c", "d"], input_length=5000,
                                   units="mV", output_activation="sigmoid")
    engine = classifier.incremental()
    assert engine is not None
    assert (engine.receptive_field, engine.stride, engine.parts.pools) == (31, 8, ("avg", "max"))
    xs = _model_inputs([p for p, _ in synthetic_paths], classifier)
    inputs = [(Path(p).name, x, n) for (p, n), x in zip(synthetic_paths, xs, strict=True)]
    worst, where = _worst_difference(classifier, inputs)
    assert worst <= TOLERANCE, where


@pytest.mark.keras
def test_odd_keras_layers_and_length():
    """'valid' strided, 'same' pooled and causal dilated convolutions, a concatenation of branches,
    max pooling with keepdims and a Flatten after it, on a length that is no multiple of the stride."""
    layers = keras.layers
    inputs = keras.Input((1001, 12))
    h = layers.ReLU()(layers.BatchNormalization()(layers.Conv1D(6, 5, strides=3, padding="valid")(inputs)))
    h = layers.MaxPooling1D(2, padding="same")(h)
    h = layers.Concatenate()([layers.Conv1D(6, 3, dilation_rate=2, padding="causal", activation="tanh")(h),
                              layers.Conv1D(4, 1)(h)])
    pooled = layers.Flatten()(layers.GlobalMaxPooling1D(keepdims=True)(h))
    model = keras.Model(inputs, layers.Dense(3, activation="sigmoid")(pooled))
    classifier = ecgxai.load_model(model, class_names=["a", "b", "c"], units="mV")
    engine = classifier.incremental()
    assert engine is not None and engine.stride == 6
    rng = np.random.default_rng(1)
    inputs = [(f"noise {i}", rng.normal(size=(1001, 12)).astype(np.float32), None) for i in range(3)]
    worst, where = _worst_difference(classifier, inputs)
    assert worst <= TOLERANCE, where


@pytest.mark.keras
def test_keras_sequential_of_dynamic_length():
    """A Sequential declared for inputs of any length (stride-1 'same' convolutions need none)."""
    layers = keras.layers
    model = keras.Sequential([keras.Input((None, 12)), layers.Conv1D(8, 7, padding="same", activation="relu"),
                              layers.Conv1D(8, 4, padding="same", activation="elu"),
                              layers.GlobalAveragePooling1D(), layers.Dense(2, activation="softmax")])
    classifier = ecgxai.load_model(model, class_names=["a", "b"], input_length=800, units="mV")
    engine = classifier.incremental()
    assert engine is not None and (engine.receptive_field, engine.stride) == (5, 1)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(800, 12)).astype(np.float32)
    worst, where = _worst_difference(classifier, [("noise", x, None)])
    assert worst <= TOLERANCE, where


def test_torch_sequential_time_last():
    """An nn.Sequential taking (N, L, T), with max pooling and a 'valid' convolution."""
    torch = pytest.importorskip("torch", reason="torch is an optional backend and is not installed")
    nn = torch.nn
    torch.manual_seed(1)
    module = nn.Sequential(nn.Conv1d(12, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(8, 8, 3),
                           nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 3))
    classifier = ecgxai.load_model(module, class_names=["a", "b", "c"], input_length=999, units="mV",
                                   input_layout="NLT", output_activation="sigmoid")
    engine = classifier.incremental()
    assert engine is not None and (engine.receptive_field, engine.stride, engine.split) == (7, 2, "4")
    rng = np.random.default_rng(2)
    worst, where = _worst_difference(classifier, [("noise", rng.normal(size=(999, 12)).astype(np.float32),
                                                   None)])
    assert worst <= TOLERANCE, where


# --- models that do not fit ------------------------------------------------------------------------


def _lstm_model() -> keras.Model:
    inputs = keras.Input((300, 12))
    h = keras.layers.LSTM(4)(keras.layers.Conv1D(4, 5, padding="same")(inputs))
    return keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(h))


def _flatten_model() -> keras.Model:
    inputs = keras.Input((300, 12))
    h = keras.layers.Flatten()(keras.layers.Conv1D(2, 5, strides=5)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(h))


def _callable_model(x: np.ndarray) -> np.ndarray:
    """Probabilities from the mean of the first two leads: no graph to split."""
    z = x[:, :, :2].mean(axis=1)
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize(("make", "reason"), [(_lstm_model, "LSTM"), (_flatten_model, "Flatten"),
                                              (lambda: _callable_model, "callable backend")])
@pytest.mark.keras
def test_model_that_does_not_fit_falls_back(make, reason, caplog):
    classifier = ecgxai.load_model(make(), class_names=["a", "b"], input_length=300, units="mV")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    batch, windows = _local_batch(x, rng)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert classifier.incremental() is None
        local = classifier.predict_local(x, batch, windows)
        classifier.predict_local(x, batch[:2], windows[:2])
    reasons = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(reasons) == 1 and reason in reasons[0] and "no incremental engine" in reasons[0]
    np.testing.assert_array_equal(local, classifier.predict(batch))


def test_torchscript_falls_back(caplog):
    torch = pytest.importorskip("torch", reason="torch is an optional backend and is not installed")
    scripted = torch.jit.trace(_torch_cnn(torch), torch.zeros(1, 5000, 12))
    classifier = ecgxai.load_model(scripted, class_names=["a", "b", "c", "d"], input_length=5000, units="mV",
                                   output_activation="sigmoid")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert classifier.incremental() is None
    assert "TorchScript" in caplog.text


# --- the self-check --------------------------------------------------------------------------------


@pytest.mark.keras
@pytest.mark.parametrize("wrong", [Reach(32, 10, 10), Reach(16, 73, 87), Reach(32, 73, 40)])
def test_self_check_refuses_a_wrong_reach(wrong, caplog):
    """The demo CNN's true reach is stride 32, 73 samples left, 87 right: a smaller one (or a wrong
    stride) must fail the measured self-check, leaving the full forward pass."""
    classifier = ecgxai.load_model(DEMO_MODEL_PATH)
    found = classifier._split_model()
    assert found.reach == Reach(32, 73, 87)
    classifier._split_model = lambda: dataclasses.replace(found, reach=wrong)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert classifier.incremental() is None
    assert "self-check failed" in caplog.text


# --- cost accounting and input checks --------------------------------------------------------------


def _occlusions(x: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Every lead x window cell of ``x`` zeroed, one cell per input."""
    total, n_leads = x.shape
    windows = np.array([(a, min(a + width, total)) for a in range(0, total, width) for _ in range(n_leads)])
    batch = np.repeat(x[None], len(windows), axis=0)
    for m, (a, b) in enumerate(windows):
        batch[m, a:b, m % n_leads] = 0.0
    return batch, windows


def test_counter_counts_inputs_and_the_computed_share(demo_model, synthetic_paths):
    x = _model_inputs([synthetic_paths[0][0]], demo_model)[0]
    batch, windows = _occlusions(x, 250)
    demo_model.counter.reset()
    demo_model.predict_local(x, batch, windows)
    counter = demo_model.counter
    assert counter.forward_samples == counter.evaluations == len(batch)
    assert 1.0 < counter.forward_fraction < len(batch) / 4
    first = counter.forward_fraction
    demo_model.predict_local(x, batch, windows)  # the base's feature map is cached now
    assert counter.forward_fraction == pytest.approx(2 * first - 1.0)

    fallback = ecgxai.load_model(_callable_model, class_names=["a", "b"], input_length=5000, units="mV")
    fallback.predict_local(x, batch, windows)
    assert fallback.counter.forward_samples == fallback.counter.forward_fraction == len(batch)


def test_bad_windows_and_inputs_are_refused(demo_model):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5000, 12)).astype(np.float32)
    batch, windows = _local_batch(x, rng)
    with pytest.raises(ConfigurationError, match="windows must be"):
        demo_model.predict_local(x, batch, windows[:-1])
    with pytest.raises(ConfigurationError, match="windows must be"):
        demo_model.predict_local(x, batch, windows.astype(float))
    with pytest.raises(ConfigurationError, match="0 <= start <= end"):
        demo_model.predict_local(x, batch, windows[:, ::-1])
    narrow = windows.copy()
    narrow[4] = (narrow[4, 0] + 10, narrow[4, 1])  # input 4 changes before its stated window
    with pytest.raises(ConfigurationError, match="differs from the base outside its window"):
        demo_model.predict_local(x, batch, narrow)
