"""The width study's protocol, trained by the PyTorch reference (torch_model.py) from its own draws.

    python3 seeds.py --hidden-units 16 --seeds 0 1 2 3 4 [--epochs 25] [--out results/pytorch]

Per seed: Glorot-uniform weights and zero biases from torch.Generator(seed), an epoch
permutation and the VAE's noise from the same generator; batch 128 (the last batch of an epoch
smaller), Keras-form Adam at 1e-3, 25 epochs; after each epoch the test losses with one z per
image; at the end the active units (posterior-mean variance over the test set > 0.01), as
vaelab measures them. Writes OUT/vae-mnist-d16-h<H>-b1-s<seed>.json (written once, atomically)
and checkpoints after every epoch (OUT/.<name>.ckpt), so a killed run resumes where it stopped.
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_model  # noqa: E402

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "mnist")


def mnist(split):
    """All images of a split as [N, 1, 28, 28] float32 in [0, 1]."""
    with gzip.open(os.path.join(MNIST, f"{split}-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    return torch.from_numpy(pixels.astype(np.float32) / 255.0)


def test_losses(params, test, d, generator, batch=500):
    """Mean recon, KL and total (beta 1) over the test set, and every image's posterior mean."""
    recon = kl = 0.0
    mus = []
    for lo in range(0, len(test), batch):
        x = test[lo : lo + batch]
        eps = torch.randn(len(x), d, generator=generator)
        r, k, mu = torch_model.per_image_losses(params, x, eps)
        recon, kl = recon + r.double().sum().item(), kl + k.double().sum().item()
        mus.append(mu)
    n = len(test)
    return {"recon": recon / n, "kl": kl / n, "total": (recon + kl) / n}, torch.cat(mus)


def train(seed, hidden_units, epochs, out_dir, d=16, batch=128, limit=None):
    name = f"vae-mnist-d{d}-h{hidden_units}-b1-s{seed}"
    result, ckpt = os.path.join(out_dir, name + ".json"), os.path.join(out_dir, f".{name}.ckpt")
    if os.path.exists(result):
        print(f"{name}: done")
        return
    train_x, test_x = mnist("train")[:limit], mnist("t10k")[:limit]
    generator = torch.Generator().manual_seed(seed)
    params = torch_model.glorot_uniform(torch_model.parameter_shapes("vae", d, hidden_units), generator)
    adam = torch_model.KerasAdam(params)
    records = []
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        for k in params:
            params[k].copy_(state["params"][k])
            adam.m[k].copy_(state["m"][k])
            adam.v[k].copy_(state["v"][k])
        adam.t, records = state["t"], state["records"]
        generator.set_state(state["generator"])
    while len(records) < epochs:
        t0 = time.time()
        order = torch.randperm(len(train_x), generator=generator)
        sums, batches = [0.0, 0.0, 0.0], 0
        for lo in range(0, len(train_x), batch):
            x = train_x[order[lo : lo + batch]]
            eps = torch.randn(len(x), d, generator=generator)
            parts, grads = torch_model.gradients(params, x, eps)
            adam.step(grads)
            sums, batches = [s + p for s, p in zip(sums, parts)], batches + 1
        test, _ = test_losses(params, test_x, d, generator)
        train_means = dict(zip(["recon", "kl", "total"], [s / batches for s in sums]))
        records.append({"epoch": len(records) + 1, "train": train_means, "test": test})
        print(f"{name}: epoch {len(records)}/{epochs} test total {test['total']:.2f} ({time.time() - t0:.0f} s)", flush=True)
        state = {"params": params, "m": adam.m, "v": adam.v, "t": adam.t, "records": records,
                 "generator": generator.get_state()}
        torch.save(state, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)
    final, mu = test_losses(params, test_x, d, generator)
    variance = mu.double().var(dim=0, unbiased=False)
    doc = {
        "implementation": f"PyTorch {torch.__version__} (Tests/GoldenTests/torch_model.py, float32)",
        "config": {"model": "vae", "latent_dim": d, "hidden_units": hidden_units, "beta": 1.0, "seed": seed,
                   "epochs": epochs, "batch_size": batch, "learning_rate": 1e-3, "init": "glorot_uniform"},
        "epochs": records,
        "final": {"test": final, "active_units": int((variance > 0.01).sum()), "latent_variance": variance.tolist()},
    }
    with open(result + ".tmp", "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(result + ".tmp", result)
    os.remove(ckpt)
    print(f"{name}: test total {final['total']:.2f}, {doc['final']['active_units']} active units")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden-units", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--out", default="results/pytorch")
    parser.add_argument("--limit", type=int, help="first N images of each split (a smoke check)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for seed in args.seeds:
        train(seed, args.hidden_units, args.epochs, args.out, limit=args.limit)


if __name__ == "__main__":
    main()
