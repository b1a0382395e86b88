"""Golden reference for GoldenTests.swift (in the spirit of llm.c's test_gpt2.c).

    python3 golden.py INPUT.safetensors OUTPUT.safetensors MNIST_DIR

INPUT, written by vaelab: the initial parameters under their own names, `eps` [steps, batch, d]
(the VAE's reparameterisation noise for each step; absent for the AE) and metadata model,
latent_dim, hidden_units, batch, steps, learning_rate, beta. The batches are MNIST's first
steps * batch training images in file order, read here from the IDX files.

OUTPUT, computed by torch_model in float64 (stored as float32):
    grad.<name>    the gradient of the first step's total loss
    step1.<name>   the parameters after the first Adam step
    final.<name>   the parameters after `steps` steps
    losses         [steps, 3]: recon, KL and total of every step (before its update)
and the same computed in float32 under the prefix `f32.` (f32.grad.<name>, ..., f32.losses):
how far float32 arithmetic itself lands from float64, which the test allows vaelab too.
"""

import gzip
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_model  # noqa: E402


def mnist_train_images(directory, count):
    """The first `count` training images as [count, 1, 28, 28] in [0, 1] (pixel / 255)."""
    with gzip.open(os.path.join(directory, "train-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read(16 + count * 784)
    magic, n = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
    assert magic == 2051 and n >= count, "not an IDX image file with enough images"
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, 1, 28, 28)
    return torch.from_numpy(pixels.astype(np.float64) / 255.0)


def main(input_path, output_path, mnist_dir):
    from safetensors import safe_open

    with safe_open(input_path, "pt") as f:
        meta = f.metadata()
    tensors = load_file(input_path)
    batch, steps = int(meta["batch"]), int(meta["steps"])
    beta, lr = float(meta["beta"]), float(meta["learning_rate"])
    eps = tensors.pop("eps", None)
    x = mnist_train_images(mnist_dir, batch * steps)
    torch.set_num_threads(1)
    out = {}
    for dtype, prefix in [(torch.float64, ""), (torch.float32, "f32.")]:
        params = {k: v.to(dtype).clone() for k, v in tensors.items()}
        noise = None if eps is None else eps.to(dtype)
        run = trajectory(params, x.to(dtype), noise, batch, steps, beta, lr)
        out.update({prefix + k: v for k, v in run.items()})
    save_file({k: v.to(torch.float32).contiguous() for k, v in out.items()}, output_path)


def trajectory(params, x, eps, batch, steps, beta, lr):
    """`steps` Keras-Adam steps over consecutive batches of x, recording what OUTPUT holds."""
    adam = torch_model.KerasAdam(params, lr=lr)
    out, losses = {}, []
    for s in range(steps):
        xs = x[s * batch : (s + 1) * batch]
        es = None if eps is None else eps[s]
        parts, grads = torch_model.gradients(params, xs, es, beta)
        losses.append(parts)
        adam.step(grads)
        if s == 0:
            out.update({f"grad.{k}": g for k, g in grads.items()})
            out.update({f"step1.{k}": p.clone() for k, p in params.items()})
    out.update({f"final.{k}": p for k, p in params.items()})
    out["losses"] = torch.tensor(losses, dtype=torch.float64)
    return out


if __name__ == "__main__":
    main(*sys.argv[1:4])
