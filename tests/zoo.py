"""The model zoo of the tests and benchmarks, their raw inputs, and ``convert``, the one way they turn a Keras
model into an hls4ml project.

Builders (small QKeras models; seeded random weights with exact zeros = pruned weights, BatchNorm statistics
far from the identity; the layer names below are the ones the tests look up):

* ``mlp(seed, quantizer, widths, ...)``: Dense ``d0, d1, ...`` + quantized relu ``a0, a1, ...`` and ``out``;
  widths drawn from the seed or given, optional BatchNorm, dropout and a final softmax (then ``logits``);
* ``cnn(seed, quantizer, padding)``: conv ``c0``, max pooling, dense ``out`` on 8x8x1 images;
* ``resnet(seed, filters, ...)``: ResNet-style CNN on 8x8x1 images (skip connections, BatchNorm, max pooling);
* ``conv1d(seed)``: QConv1D ('same' and strided 'valid') with MaxPooling1D;
* ``dense(kernel_quantizer, ...)``: a single Dense ``fc``, optionally followed by BatchNorm ``bn``.

The training side's builders (``toolchain.models``, used by ``arith4ml train``) are product code: tests that
need those architectures call them directly.

hls4ml finds the Bitshift and RNS backends through its plugin entry point; nothing here imports toolchain.
"""
from __future__ import annotations

import numpy as np

PART = "xc7z020clg400-1"  # the PYNQ-Z2's Zynq-7020


# ---- weights ----------------------------------------------------------------------------------------


def po2():
    """4-bit power-of-two weights up to 1 (QKeras ``quantized_po2(4, 1)``): the zoo's default quantizer."""
    from qkeras import quantized_po2

    return quantized_po2(4, 1)


def weight_quantizer(name: str):
    """A fresh weight quantizer by name: ``po2``, ``ternary`` or ``bits`` (``quantized_bits(6, 2)``)."""
    from qkeras import quantized_bits, ternary

    makers = {"po2": po2, "ternary": lambda: ternary(), "bits": lambda: quantized_bits(6, 2, alpha=1)}
    return makers[name]()


def _bias_quantizer():
    from qkeras import quantized_bits

    return quantized_bits(8, 3, alpha=1)


def _set_batchnorm(layer, rng) -> None:
    """gamma, beta, moving mean, moving variance: far from the identity."""
    shape = layer.get_weights()[0].shape
    layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.normal(0, 0.3, shape), rng.normal(0, 0.5, shape),
                       rng.uniform(0.5, 2.0, shape)])


def randomize(model, rng, scale: float = 0.5, bias_scale: float = 0.5, prune: float = 0.3) -> None:
    """Kernels N(0, scale) with a fraction ``prune`` set exactly to zero (``prune=0`` draws no mask), biases
    N(0, bias_scale), BatchNorm layers as ``_set_batchnorm``; layers in ``model.layers`` order."""
    for layer in model.layers:
        ws = layer.get_weights()
        if len(ws) == 4:
            _set_batchnorm(layer, rng)
        elif len(ws) == 2:
            k = rng.normal(0, scale, ws[0].shape).astype("float32")
            if prune:
                k[rng.random(k.shape) < prune] = 0.0
            layer.set_weights([k, rng.normal(0, bias_scale, ws[1].shape).astype("float32")])


# ---- builders ---------------------------------------------------------------------------------------


def input_quantizer(x):
    """``QActivation(quantized_bits(8, 3, alpha=1))`` named ``q_in``: fixes the input grid as a quantized model's
    first layer does (then C-sim can equal Keras bit for bit)."""
    from qkeras import QActivation, quantized_bits

    return QActivation(quantized_bits(8, 3, alpha=1), name="q_in")(x)


def mlp(seed: int, quantizer: str = "po2", widths=None, prune: float = 0.3, scale: float = 0.6,
        bias_scale: float = 0.5, batchnorm: bool = False, dropout: float = 0.0, softmax: bool = False,
        quantized_input: bool = False):
    """MLP: per hidden width Dense ``d{i}`` [BatchNorm ``bn{i}``] quantized_relu(6, 2) ``a{i}`` [Dropout
    ``drop{i}``], then Dense ``out`` (with ``softmax``: Dense ``logits`` and Activation ``softmax``).

    ``widths`` = (inputs, hidden..., outputs), or None: drawn from the seed (5-19 inputs, one or two hidden
    layers of 4-23, 2-5 outputs). ``batchnorm``: QBatchNormalization after the second hidden layer, Keras
    BatchNormalization after the others. ``quantized_input``: ``input_quantizer`` first. Weights: ``randomize``
    with the seed's generator.
    """
    import tensorflow as tf
    from qkeras import QActivation, QBatchNormalization, QDense, quantized_relu

    rng = np.random.default_rng(seed)
    if widths is None:
        n_in = int(rng.integers(5, 20))
        hidden = [int(rng.integers(4, 24)) for _ in range(int(rng.integers(1, 3)))]
        widths = (n_in, *hidden, int(rng.integers(2, 6)))
    inp = tf.keras.Input((widths[0],), name="x_in")  # hls4ml reserves the layer name 'input'
    x = input_quantizer(inp) if quantized_input else inp
    for i, units in enumerate(widths[1:-1]):
        x = QDense(units, kernel_quantizer=weight_quantizer(quantizer), bias_quantizer=_bias_quantizer(),
                   name=f"d{i}")(x)
        if batchnorm:
            x = (QBatchNormalization if i == 1 else tf.keras.layers.BatchNormalization)(name=f"bn{i}")(x)
        x = QActivation(quantized_relu(6, 2), name=f"a{i}")(x)
        if dropout:
            x = tf.keras.layers.Dropout(dropout, name=f"drop{i}")(x)
    out = QDense(widths[-1], kernel_quantizer=weight_quantizer(quantizer), bias_quantizer=_bias_quantizer(),
                 name="logits" if softmax else "out")(x)
    if softmax:
        out = tf.keras.layers.Activation("softmax", name="softmax")(out)
    model = tf.keras.Model(inp, out)
    randomize(model, rng, scale, bias_scale, prune)
    return model


def cnn(seed: int, quantizer: str = "po2", padding: str = "valid"):
    """8x8x1 -> QConv2D 3x3 ``c0`` (2-5 filters, drawn from the seed) -> quantized_relu(6, 2) ``a0`` -> 2x2 max
    pooling ``p0`` -> Flatten ``f`` -> Dense ``out`` (4). Weights: ``randomize`` with the seed's generator."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_relu

    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((8, 8, 1), name="x_in")
    x = QConv2D(int(rng.integers(2, 6)), 3, padding=padding, kernel_quantizer=weight_quantizer(quantizer),
                bias_quantizer=_bias_quantizer(), name="c0")(inp)
    x = QActivation(quantized_relu(6, 2), name="a0")(x)
    x = tf.keras.layers.MaxPooling2D(2, name="p0")(x)
    x = tf.keras.layers.Flatten(name="f")(x)
    out = QDense(4, kernel_quantizer=weight_quantizer(quantizer), bias_quantizer=_bias_quantizer(), name="out")(x)
    model = tf.keras.Model(inp, out)
    randomize(model, rng)
    return model


def resnet(seed: int, filters=(4, 8), n_classes: int = 5, qbatchnorm: bool = False, float_last_relu: bool = False,
           dropout: float = 0.0, softmax: bool = False, quantized_input: bool = False):
    """ResNet-style PoT CNN on 8x8x1 inputs: stem conv ``conv0`` + BatchNorm ``bn0`` + quantized_relu(8, 3)
    ``relu0``; per entry of ``filters`` a residual stack of two 3x3 convs ``s{i}_conv{1,2}`` with BatchNorm
    ``s{i}_bn{1,2}`` whose skip is the identity (same width) or a 1x1 conv ``s{i}_skip``, Add ``s{i}_add``,
    quantized relu ``s{i}_relu``, 2x2 max pooling ``s{i}_pool``; Flatten ``flatten`` [Dropout ``dropout``],
    Dense ``logits`` [Activation ``softmax``].

    ``quantized_input``: ``input_quantizer`` first.  ``qbatchnorm``: the stem's and every odd stack's second
    BatchNorm are QBatchNormalization (QKeras' default po2 quantizers), so both kinds occur.
    ``float_last_relu``: the last stack's relu is a plain Keras relu, so the logits layer gets a wide exact
    input. Weights: ``randomize(scale=0.5, bias_scale=0.3, prune=0.2)``.
    """
    import tensorflow as tf
    from qkeras import QActivation, QBatchNormalization, QConv2D, QDense, quantized_relu

    def conv(x, c, k, name):
        return QConv2D(c, k, padding="same", kernel_quantizer=po2(), bias_quantizer=_bias_quantizer(), name=name)(x)

    def batchnorm(quantized: bool, name: str):
        return (QBatchNormalization if quantized else tf.keras.layers.BatchNormalization)(name=name)

    inp = tf.keras.Input((8, 8, 1), name="x_in")
    h = conv(input_quantizer(inp) if quantized_input else inp, filters[0], 3, "conv0")
    h = batchnorm(qbatchnorm, "bn0")(h)
    h = QActivation(quantized_relu(8, 3), name="relu0")(h)
    prev = filters[0]
    for i, c in enumerate(filters, 1):
        y = conv(h, c, 3, f"s{i}_conv1")
        y = batchnorm(False, f"s{i}_bn1")(y)
        y = QActivation(quantized_relu(8, 3), name=f"s{i}_relu1")(y)
        y = conv(y, c, 3, f"s{i}_conv2")
        y = batchnorm(qbatchnorm and i % 2 == 1, f"s{i}_bn2")(y)
        skip = h if c == prev else conv(h, c, 1, f"s{i}_skip")
        h = tf.keras.layers.Add(name=f"s{i}_add")([y, skip])
        if float_last_relu and i == len(filters):
            h = tf.keras.layers.Activation("relu", name=f"s{i}_relu")(h)
        else:
            h = QActivation(quantized_relu(8, 3), name=f"s{i}_relu")(h)
        h = tf.keras.layers.MaxPooling2D(2, name=f"s{i}_pool")(h)
        prev = c
    h = tf.keras.layers.Flatten(name="flatten")(h)
    if dropout:
        h = tf.keras.layers.Dropout(dropout, name="dropout")(h)
    out = QDense(n_classes, kernel_quantizer=po2(), bias_quantizer=_bias_quantizer(), name="logits")(h)
    if softmax:
        out = tf.keras.layers.Activation("softmax", name="softmax")(out)
    model = tf.keras.Model(inp, out)
    randomize(model, np.random.default_rng(seed), scale=0.5, bias_scale=0.3, prune=0.2)
    return model


def conv1d(seed: int):
    """(16, 2) -> QConv1D 'same' ``c1`` (4) -> relu ``r1`` -> MaxPooling1D ``p1`` -> QConv1D 'valid' stride 2
    ``c2`` (6) -> relu ``r2`` -> Flatten ``flat`` -> Dense ``fc`` (3); PoT weights, no pruning."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QDense, quantized_relu

    inp = tf.keras.Input((16, 2), name="x_in")
    h = QConv1D(4, 3, padding="same", kernel_quantizer=po2(), bias_quantizer=_bias_quantizer(), name="c1")(inp)
    h = QActivation(quantized_relu(6, 2), name="r1")(h)
    h = tf.keras.layers.MaxPooling1D(2, name="p1")(h)
    h = QConv1D(6, 3, strides=2, kernel_quantizer=po2(), bias_quantizer=_bias_quantizer(), name="c2")(h)
    h = QActivation(quantized_relu(6, 2), name="r2")(h)
    h = tf.keras.layers.Flatten(name="flat")(h)
    out = QDense(3, kernel_quantizer=po2(), bias_quantizer=_bias_quantizer(), name="fc")(h)
    model = tf.keras.Model(inp, out)
    randomize(model, np.random.default_rng(seed), scale=0.5, bias_scale=0.3, prune=0)
    return model


def dense(kernel_quantizer=None, shape=(8, 4), batchnorm: bool = False, kernel: np.ndarray | None = None,
          seed: int = 3):
    """One Dense ``fc`` (QDense with ``kernel_quantizer``, plain Keras Dense without) on input ``x_in``, no bias
    quantizer, optionally followed by BatchNormalization ``bn``. With ``kernel`` (its shape is the layer's):
    that kernel, and bias N(0, 0.3) and BatchNorm statistics drawn from ``seed``; without, Keras' initializers."""
    import tensorflow as tf
    from qkeras import QDense

    shape = shape if kernel is None else kernel.shape
    inp = tf.keras.Input((shape[0],), name="x_in")
    fc = QDense(shape[1], kernel_quantizer=kernel_quantizer, name="fc") if kernel_quantizer is not None else \
        tf.keras.layers.Dense(shape[1], name="fc")
    h = fc(inp)
    if batchnorm:
        h = tf.keras.layers.BatchNormalization(name="bn")(h)
    model = tf.keras.Model(inp, h)
    if kernel is not None:
        rng = np.random.default_rng(seed)
        fc.set_weights([kernel, rng.normal(0, 0.3, shape[1])])
        if batchnorm:
            _set_batchnorm(model.get_layer("bn"), rng)
    return model


# ---- inputs -----------------------------------------------------------------------------------------


def raw_inputs(seed: int, shape, n: int = 200, scale: float = 3.0, jitter: float = 1e-3,
               outliers: bool = True) -> np.ndarray:
    """Raw float32 inputs N(0, scale), plus U(-jitter, jitter) off the fixed-point grid (``jitter=0``: none).
    ``outliers``: every ~1/7 of the values times 20, beyond ap_fixed<16,6>'s range (the input overflow mode)."""
    rng = np.random.default_rng(seed)
    size = (n, *shape)
    x = rng.normal(0, scale, size)
    if jitter:
        x = x + rng.uniform(-jitter, jitter, size)
    if outliers:
        x.flat[:: max(1, x.size // 7)] *= 20.0
    return x.astype("float32")


# ---- conversion -------------------------------------------------------------------------------------


def convert(model, backend: str, out_dir, io_type: str = "io_parallel", layer_config: dict | None = None,
            model_config: dict | None = None, compile: bool = True, part: str | None = PART,
            bit_exact: bool | None = None):
    """``model`` converted by hls4ml's public API into an hls4ml project in ``out_dir`` (and compiled with g++
    for C-simulation unless ``compile=False``).

    The configuration is hls4ml's per-layer one for ``backend``; ``model_config`` updates its ``Model`` entry,
    ``layer_config`` maps layer names (``"*"``: every layer) to settings that update their ``LayerName`` entry.
    ``part=None`` leaves the backend's default part; ``bit_exact`` is hls4ml's own option (its BitExact pass).
    """
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"].update(model_config or {})
    for name, extra in (layer_config or {}).items():
        for layer_cfg in cfg["LayerName"].values() if name == "*" else [cfg["LayerName"][name]]:
            layer_cfg.update(extra)
    hm = hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg, output_dir=str(out_dir),
                                                    part=part, io_type=io_type, bit_exact=bit_exact)
    if compile:
        hm.compile()
    return hm


# ---- CIFAR-10-sized ResNet-8 (benchmarks) -------------------------------------------------------------

BN_EPS_DYADIC = 2.0 ** -10  # BatchNorm epsilon of cifar_resnet8(dyadic_bn=True): exact in float32 and float64


def _calibrated_batchnorm(layer, m: np.ndarray, v: np.ndarray, rng, dyadic: bool) -> None:
    """Set ``layer``'s statistics from the measured per-channel mean ``m`` and variance ``v`` of its input,
    randomised: gamma in [0.5, 1.5], variance v x U(0.5, 2), mean m + N(0, 0.2 sd), beta N(0.2, 0.4).

    ``dyadic``: gamma a multiple of 1/8, variance + epsilon a power of 4 (1/sqrt of it a power of two), mean
    and beta multiples of 1/16, so that Keras' float32 BatchNorm (fused or not) computes exactly what the
    exact scale-and-bias does."""
    c = m.shape[0]
    var = v * rng.uniform(0.5, 2.0, c)
    mean = m + rng.normal(0, 0.2, c) * np.sqrt(v)
    beta = rng.normal(0.2, 0.4, c)
    if dyadic:
        gamma = rng.integers(4, 13, c) / 8.0
        j = np.clip(np.round(np.log(np.maximum(var, 1e-6)) / np.log(4.0)), -4, 12)
        var = np.float32(4.0 ** j - BN_EPS_DYADIC)
        assert np.array_equal(var.astype(np.float64) + BN_EPS_DYADIC, 4.0 ** j)
        mean, beta = np.round(mean * 16) / 16, np.round(beta * 16) / 16
    else:
        gamma = rng.uniform(0.5, 1.5, c)
    layer.set_weights([np.float32(gamma), np.float32(beta), np.float32(mean), np.float32(var)])


def cifar_resnet8(seed: int = 0, weights: str = "po2", quantized_input: bool = True, pooling: str = "average",
                  softmax: bool = True, n_classes: int = 10, prune: float = 0.2, dyadic_bn: bool = True,
                  calibration: np.ndarray | None = None):
    """MLPerf Tiny's image-classification ResNet-8 (CIFAR-10 sized: 32x32x3, ~78k parameters) in QKeras.

    [``q_in``: ``input_quantizer``] -> 3x3 conv ``conv0`` (16) + BatchNorm ``bn0`` + quantized_relu(8, 4)
    ``relu0``; three residual stacks i = 1, 2, 3 of 16, 32, 64 filters: 3x3 conv ``s{i}_conv1`` (stride 2 for
    stacks 2 and 3) + ``s{i}_bn1`` + ``s{i}_relu1``, 3x3 conv ``s{i}_conv2`` + ``s{i}_bn2``; the skip is the
    identity (stack 1) or a strided 1x1 conv ``s{i}_skip``; Add ``s{i}_add``, quantized relu ``s{i}_relu``;
    then ``pooling='average'``: AveragePooling2D(8) ``pool`` + Flatten ``flatten`` (as MLPerf), or
    ``'global'``: GlobalAveragePooling2D ``pool``; Dense ``logits`` (``n_classes``) [Activation ``softmax``].
    All convolutions 'same' padding, biases ``quantized_bits(8, 3)``.

    ``weights``: ``'po2'`` (``quantized_po2(4, 1)``, shift-add kernels on Bitshift) or ``'bits'``
    (``quantized_bits(8, 0)``: integer weights for RNS; BatchNorm folds into them). Kernels N(0, sqrt(2 /
    fan-in)) with a fraction ``prune`` exactly zero, biases N(0, 0.1). BatchNorm statistics are calibrated
    (each BatchNorm, in order, on its input's per-channel mean and variance over ``calibration``, default 64
    synthetic N(0, 2) images) and then randomised (``_calibrated_batchnorm``), so activations neither die nor
    saturate. ``dyadic_bn`` (default): statistics on dyadic grids, epsilon 2**-10, so that with
    ``quantized_input`` Keras' float32 forward pass is the exact value (C-sim can equal it bit for bit).
    """
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    if weights not in ("po2", "bits"):
        raise ValueError(f"weights must be 'po2' or 'bits', not {weights!r}")
    if pooling not in ("average", "global"):
        raise ValueError(f"pooling must be 'average' or 'global', not {pooling!r}")

    def kq():
        return po2() if weights == "po2" else quantized_bits(8, 0, alpha=1)

    def conv(x, c, k, stride, name):
        return QConv2D(c, k, strides=stride, padding="same", kernel_quantizer=kq(), bias_quantizer=_bias_quantizer(),
                       name=name)(x)

    def bn(x, name):
        kw = {"epsilon": BN_EPS_DYADIC} if dyadic_bn else {}
        return tf.keras.layers.BatchNormalization(name=name, **kw)(x)

    def relu(x, name):
        return QActivation(quantized_relu(8, 4), name=name)(x)

    inp = tf.keras.Input((32, 32, 3), name="x_in")
    h = relu(bn(conv(input_quantizer(inp) if quantized_input else inp, 16, 3, 1, "conv0"), "bn0"), "relu0")
    prev = 16
    for i, c in enumerate((16, 32, 64), 1):
        stride = 1 if c == prev else 2
        y = relu(bn(conv(h, c, 3, stride, f"s{i}_conv1"), f"s{i}_bn1"), f"s{i}_relu1")
        y = bn(conv(y, c, 3, 1, f"s{i}_conv2"), f"s{i}_bn2")
        skip = h if c == prev else conv(h, c, 1, stride, f"s{i}_skip")
        h = relu(tf.keras.layers.Add(name=f"s{i}_add")([y, skip]), f"s{i}_relu")
        prev = c
    if pooling == "average":
        h = tf.keras.layers.Flatten(name="flatten")(tf.keras.layers.AveragePooling2D(8, name="pool")(h))
    else:
        h = tf.keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = QDense(n_classes, kernel_quantizer=kq(), bias_quantizer=_bias_quantizer(), name="logits")(h)
    if softmax:
        out = tf.keras.layers.Activation("softmax", name="softmax")(out)
    model = tf.keras.Model(inp, out)

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if len(ws) == 2:  # conv / dense: kernel, bias
            k = rng.normal(0, np.sqrt(2.0 / np.prod(ws[0].shape[:-1])), ws[0].shape)
            if prune:
                k[rng.random(k.shape) < prune] = 0.0
            layer.set_weights([np.float32(k), np.float32(rng.normal(0, 0.1, ws[1].shape))])
    x = raw_inputs(seed + 1, (32, 32, 3), 64, scale=2.0, jitter=0, outliers=False) if calibration is None \
        else np.asarray(calibration, dtype=np.float32)
    for layer in model.layers:  # in graph order: each BatchNorm sees its calibrated predecessors
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            a = tf.keras.Model(inp, layer.input).predict(x, batch_size=64, verbose=0).astype(np.float64)
            a = a.reshape(-1, a.shape[-1])
            _calibrated_batchnorm(layer, a.mean(0), a.var(0) + 1e-6, rng, dyadic_bn)
    return model
