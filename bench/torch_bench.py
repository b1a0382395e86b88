#!/usr/bin/env python3
"""PyTorch (CPU) peer of `vaelab bench`: the reference VAE / AE of ../shared/DESIGN.md.

Times a training step (forward, loss, backward, Adam update) and an evaluation forward pass
(encoder + decoder under no_grad; the VAE decodes z = mean) on four batches of the first MNIST
training images (--data uniform: synthetic [0, 1] pixels), and prints one JSON line per model
configuration:

  {"peer", "version", "threads", "model", "latent_dim", "hidden_units", "batch_size",
   "train_images_per_second", "eval_images_per_second", ...}

Each rate is the median over --reps repetitions of --steps steps, after --warmup steps.

Settings: PyTorch as a user tuning a CNN on the CPU runs it (PyTorch's performance tuning guide):
the model and its inputs in the channels_last memory format (oneDNN's NHWC convolutions; measured
on an Intel Xeon with AVX-512, 1 thread: 850-970 images/s against 690-770 in the default
contiguous format), PyTorch's default inter-op thread pool, --threads intra-op threads, the
training step eager and the evaluation pass through torch.compile (TorchInductor's C++ backend;
on an AMD EPYC Zen 4, 1 thread: evaluation 4,030-4,350 images/s compiled against 2,510-3,000
eager, training 950-1,140 compiled against 1,060-1,170 eager). --compile none / all compiles
neither / both; --memory-format contiguous and --interop-threads 1 give the older settings.
Run it from bench/compare.py, or by hand:

  .venv-bench-torch/bin/python bench/torch_bench.py --threads 1 [--quick]

"Same" padding: PyTorch has no padding="same" for stride 2, so the stride-2 convolutions use
padding=1 and the stride-2 transposed convolutions padding=1, output_padding=1. That gives the
same output sizes (28->14->7, 7->14->28) and the same FLOPs as TF/Keras "same"; TF puts the odd
padding row/column at the bottom/right, PyTorch's padding=1 at the top/left, a one-pixel shift
of the sampling grid that does not matter for a throughput benchmark. The shapes are asserted.
"""
import benchargs  # bench/benchargs.py, beside this script
import math
import os
import sys


def extra_options(p):
    p.add_argument("--memory-format", choices=("channels_last", "contiguous"), default="channels_last")
    p.add_argument("--interop-threads", type=int, default=0, help="inter-op threads (default 0: PyTorch's default)")
    p.add_argument("--compile", choices=("none", "eval", "all"), default="eval",
                   help="what torch.compile compiles: nothing, the evaluation pass (default) or also the loss")


args = benchargs.parse_args(__doc__.split("\n\n")[0], "intra-op threads (torch.set_num_threads)", extra_options)

import torch  # noqa: E402  (after argument parsing, so --help needs no torch)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# Before any operator runs: set_num_interop_threads fails once the inter-op pool has started.
torch.set_num_threads(args.threads)
if args.interop_threads > 0:
    torch.set_num_interop_threads(args.interop_threads)
MEMORY_FORMAT = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format


class RefModel(nn.Module):
    """The reference architecture: conv encoder, dense bottleneck, transposed-conv decoder."""

    def __init__(self, kind, latent_dim, hidden_units):
        super().__init__()
        self.kind = kind
        self.conv1 = nn.Conv2d(1, 32, 3, stride=2, padding=1)        # 28 -> 14
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)       # 14 -> 7
        self.dense = nn.Linear(64 * 7 * 7, hidden_units)             # 3136 -> H
        self.mean = nn.Linear(hidden_units, latent_dim)              # H -> d (the AE's only head)
        self.logvar = nn.Linear(hidden_units, latent_dim) if kind == "vae" else None
        self.dec_dense = nn.Linear(latent_dim, 64 * 7 * 7)           # d -> 3136
        self.deconv1 = nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1)  # 7 -> 14
        self.deconv2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)  # 14 -> 28
        self.deconv3 = nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1)                     # 28 -> 28
        # Keras defaults, as in vaelab: Glorot-uniform weights, zero biases.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x):
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h))
        h = F.relu(self.dense(h.flatten(1)))
        return self.mean(h), (self.logvar(h) if self.logvar is not None else None)

    def decode(self, z):
        h = F.relu(self.dec_dense(z)).view(-1, 64, 7, 7)
        h = F.relu(self.deconv1(h))
        h = F.relu(self.deconv2(h))
        return self.deconv3(h)  # logits

    def loss(self, x, beta=1.0):
        mu, logvar = self.encode(x)
        if logvar is not None:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        else:
            z = mu
        logits = self.decode(z)
        n = x.shape[0]
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
        if logvar is None:
            return recon, logits
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
        return recon + beta * kl, logits


def bench_one(kind, d, h):
    torch.manual_seed(args.seed)
    model = RefModel(kind, d, h).to(memory_format=MEMORY_FORMAT)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    batches = [torch.tensor(b).view(args.batch_size, 1, 28, 28).contiguous(memory_format=MEMORY_FORMAT)
               for b in benchargs.batches(args)]

    # Correctness checks before timing: decoder output shape, plausible loss at init
    # (uniform pixels, logits near 0: about 784 * ln 2 = 543 nats), encoder shapes.
    x0 = batches[0]
    with torch.no_grad():
        a = model.conv1(x0)
        b = model.conv2(a)
        c = model.deconv1(b)
        e = model.deconv2(c)
        shapes = [tuple(t.shape[1:]) for t in (a, b, c, e)]
        assert shapes == [(32, 14, 14), (64, 7, 7), (64, 14, 14), (32, 28, 28)], shapes
        mu, logvar = model.encode(x0)
        assert tuple(mu.shape) == (args.batch_size, d), mu.shape
        assert logvar is None or tuple(logvar.shape) == (args.batch_size, d)
        init_loss, logits = model.loss(x0)
    assert tuple(logits.shape) == (args.batch_size, 1, 28, 28), f"decoder output {tuple(logits.shape)}"
    init_loss = float(init_loss)
    assert math.isfinite(init_loss) and 500 < init_loss < 700, f"implausible initial loss {init_loss}"

    def forward_eval(x):
        mu, _ = model.encode(x)
        return model.decode(mu)

    torch._dynamo.reset()  # each model compiles afresh (no recompilation limit across configs)
    loss_fn = torch.compile(model.loss) if args.compile == "all" else model.loss
    eval_fn = torch.compile(forward_eval) if args.compile != "none" else forward_eval
    i = [0]
    last = [float("nan")]

    def train_step():
        x = batches[i[0] % len(batches)]
        i[0] += 1
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn(x)
        loss.backward()
        opt.step()
        last[0] = loss.detach()

    def eval_step():
        x = batches[i[0] % len(batches)]
        i[0] += 1
        with torch.no_grad():
            return eval_fn(x)

    train, train_reps, train_cores = benchargs.median_rate(
        train_step, args.batch_size, args.warmup, args.reps, args.steps)
    final_loss = float(last[0])
    assert math.isfinite(final_loss), f"non-finite loss after training: {final_loss}"
    model.eval()
    with torch.no_grad():  # the compiled pass computes what the eager one does (compiling it here)
        eager, timed = forward_eval(x0), eval_fn(x0)
    assert torch.allclose(eager, timed, rtol=1e-4, atol=1e-4), "the compiled evaluation pass differs from eager"
    evaluation, eval_reps, eval_cores = benchargs.median_rate(
        eval_step, args.batch_size, args.warmup, args.reps, args.steps)
    return {
        "peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(), "memory_format": args.memory_format,
        "compile": args.compile, "data": args.data,
        "model": kind, "latent_dim": d, "hidden_units": h, "batch_size": args.batch_size,
        "train_images_per_second": train, "eval_images_per_second": evaluation,
        "train_reps": train_reps, "eval_reps": eval_reps,
        "train_cores_busy": train_cores, "eval_cores_busy": eval_cores,
        "warmup": args.warmup, "reps": args.reps, "steps": args.steps,
        "parameters": sum(p.numel() for p in model.parameters()),
        "initial_loss": init_loss, "final_loss": final_loss, "pid": os.getpid(),
    }


if __name__ == "__main__":
    sys.exit(benchargs.print_all(args, bench_one))
