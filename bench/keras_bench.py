#!/usr/bin/env python3
"""Keras 3 / TensorFlow (CPU) peer of `vaelab bench`: the reference VAE / AE of ../shared/DESIGN.md.

Times a training step (forward, loss, backward, Adam update) and an evaluation forward pass
(encoder + decoder, training=False; the VAE decodes z = mean) on four batches of the first MNIST
training images (--data uniform: synthetic [0, 1] pixels), and prints one JSON line per model
configuration:

  {"peer", "version", "threads", "model", "latent_dim", "hidden_units", "batch_size",
   "train_images_per_second", "eval_images_per_second", ...}

Each rate is the median over --reps repetitions of --steps steps, after --warmup steps.

The training step is what `model.fit` runs for a model with a custom `train_step` (the Keras
VAE example): a `tf.function` around GradientTape, the loss, `tape.gradient` and
`optimizer.apply_gradients`, with no per-epoch callbacks or progress bar. `jit_compile` is
left at Keras's default: `compile(jit_compile="auto")` resolves to False (no XLA) on a machine
without accelerators, so the step is a plain `tf.function(jit_compile=False)`; `--jit-compile`
turns XLA on to see what it would change (on an Intel Xeon with AVX-512, 1 thread, it trained no
faster: 1,100 images/s against 1,124-1,335 without). Layout is Keras's default channels_last (NHWC).
Inter-op threads are TensorFlow's default (--interop-threads N to pin them).

  .venv-bench-tf/bin/python bench/keras_bench.py --threads 1 [--quick]
"""
import benchargs  # bench/benchargs.py, beside this script
import math
import os
import sys


def _keras_options(p):
    p.add_argument("--jit-compile", action="store_true", help="XLA-compile the steps (Keras's CPU default is off)")
    p.add_argument("--interop-threads", type=int, default=0, help="TF inter-op threads (default 0: TF's default)")


args = benchargs.parse_args(__doc__.split("\n\n")[0], "TF intra-op threads", extra=_keras_options)

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import tensorflow as tf  # noqa: E402

# Before any op runs (the settings are fixed once the runtime has started).
tf.config.threading.set_intra_op_parallelism_threads(args.threads)
if args.interop_threads > 0:
    tf.config.threading.set_inter_op_parallelism_threads(args.interop_threads)

import keras  # noqa: E402
from keras import layers  # noqa: E402

if keras.backend.backend() != "tensorflow":
    sys.exit(f"keras_bench.py needs KERAS_BACKEND=tensorflow, got {keras.backend.backend()}")


def build(kind, d, h):
    """The reference architecture (Keras defaults: Glorot-uniform weights, zero biases)."""
    x = keras.Input((28, 28, 1))
    t = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)     # 28 -> 14
    t = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(t)     # 14 -> 7
    t = layers.Flatten()(t)                                                       # 3136
    t = layers.Dense(h, activation="relu")(t)
    heads = [layers.Dense(d, name="z_mean")(t)]
    if kind == "vae":
        heads.append(layers.Dense(d, name="z_log_var")(t))
    encoder = keras.Model(x, heads, name="encoder")

    z = keras.Input((d,))
    t = layers.Dense(7 * 7 * 64, activation="relu")(z)
    t = layers.Reshape((7, 7, 64))(t)
    t = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(t)  # 7 -> 14
    t = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(t)  # 14 -> 28
    logits = layers.Conv2DTranspose(1, 3, padding="same")(t)                            # 28 -> 28
    decoder = keras.Model(z, logits, name="decoder")
    return encoder, decoder


def bench_one(kind, d, h):
    keras.utils.set_random_seed(args.seed)
    encoder, decoder = build(kind, d, h)
    trainable = encoder.trainable_variables + decoder.trainable_variables
    optimizer = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    optimizer.build(trainable)
    batches = [tf.reshape(tf.constant(b, dtype=tf.float32), (args.batch_size, 28, 28, 1)) for b in benchargs.batches(args)]

    def loss_fn(x, training):
        if kind == "vae":
            mean, log_var = encoder(x, training=training)
            z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
        else:
            z = encoder(x, training=training)
            z = z[0] if isinstance(z, (list, tuple)) else z
        logits = decoder(z, training=training)
        n = tf.cast(tf.shape(x)[0], tf.float32)
        recon = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)) / n
        if kind == "ae":
            return recon, logits
        kl = -0.5 * tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var)) / n
        return recon + kl, logits

    @tf.function(jit_compile=args.jit_compile)
    def train_step(x):
        with tf.GradientTape() as tape:
            loss, _ = loss_fn(x, training=True)
        grads = tape.gradient(loss, trainable)
        optimizer.apply_gradients(zip(grads, trainable))
        return loss

    @tf.function(jit_compile=args.jit_compile)
    def eval_step(x):
        z = encoder(x, training=False)
        z = z[0] if isinstance(z, (list, tuple)) else z  # the VAE decodes z = mean
        return decoder(z, training=False)

    # Correctness checks before timing: decoder output shape (NHWC here: [N, 28, 28, 1], the
    # same tensor as PyTorch's [N, 1, 28, 28]), plausible loss at init (about 784 ln 2 = 543).
    init_loss, logits = loss_fn(batches[0], training=False)
    init_loss = float(init_loss)
    assert tuple(logits.shape) == (args.batch_size, 28, 28, 1), f"decoder output {tuple(logits.shape)}"
    assert math.isfinite(init_loss) and 500 < init_loss < 700, f"implausible initial loss {init_loss}"
    out = eval_step(batches[0])
    assert tuple(out.shape) == (args.batch_size, 28, 28, 1), f"eval output {tuple(out.shape)}"

    i = [0]
    last = [None]

    def train():
        x = batches[i[0] % len(batches)]
        i[0] += 1
        last[0] = train_step(x)
        return last[0]

    def evaluate():
        x = batches[i[0] % len(batches)]
        i[0] += 1
        return eval_step(x)

    sync = lambda out: out.numpy()  # noqa: E731 (the last step has finished)
    train_rate, train_reps, train_cores = benchargs.median_rate(
        train, args.batch_size, args.warmup, args.reps, args.steps, sync)
    final_loss = float(last[0])
    assert math.isfinite(final_loss), f"non-finite loss after training: {final_loss}"
    eval_rate, eval_reps, eval_cores = benchargs.median_rate(
        evaluate, args.batch_size, args.warmup, args.reps, args.steps, sync)
    return {
        "peer": "keras", "version": keras.__version__, "tensorflow_version": tf.__version__,
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "interop_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "jit_compile": args.jit_compile, "data": args.data,
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "model": kind, "latent_dim": d, "hidden_units": h, "batch_size": args.batch_size,
        "train_images_per_second": train_rate, "eval_images_per_second": eval_rate,
        "train_reps": train_reps, "eval_reps": eval_reps,
        "train_cores_busy": train_cores, "eval_cores_busy": eval_cores,
        "warmup": args.warmup, "reps": args.reps, "steps": args.steps,
        "parameters": encoder.count_params() + decoder.count_params(),
        "initial_loss": init_loss, "final_loss": final_loss, "pid": os.getpid(),
    }


if __name__ == "__main__":
    sys.exit(benchargs.print_all(args, bench_one))
