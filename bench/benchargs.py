"""Command-line options and input batches shared by the peer benchmarks (torch_bench.py, keras_bench.py)."""
import argparse
import gzip
import json
import os
import random
import statistics
import struct
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(description, threads_help, extra=None, argv=None):
    """The peers' common options; `extra(parser)` adds a peer's own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=1, help=threads_help)
    p.add_argument("--configs", default="vae:2,vae:16,ae:16",
                   help="comma-separated model:latent_dim pairs (default: vae:2,vae:16,ae:16)")
    p.add_argument("--hidden-units", default="16,256", help="comma-separated hidden widths H (default: 16,256)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before timing (default: 5)")
    p.add_argument("--reps", type=int, default=7, help="timed repetitions; the median is reported (default: 7)")
    p.add_argument("--steps", type=int, default=10, help="steps per repetition (default: 10)")
    p.add_argument("--quick", action="store_true", help="smoke check: warmup 1, 3 reps of 2 steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("mnist", "uniform"), default="mnist",
                   help="timed pixels: the first MNIST training images (default, as vaelab bench) or uniform [0, 1]")
    p.add_argument("--data-dir", default=os.path.join(ROOT, "data", "mnist"), help="directory holding MNIST")
    if extra:
        extra(p)
    args = p.parse_args(argv)
    if args.quick:
        args.warmup, args.reps, args.steps = 1, 3, 2
    if min(args.threads, args.batch_size, args.reps, args.steps) < 1 or args.warmup < 0:
        p.error("--threads, --batch-size, --reps and --steps must be positive, --warmup non-negative")
    try:
        args.configs = [(m, int(d)) for m, d in (c.split(":") for c in args.configs.split(","))]
        args.hidden_units = [int(h) for h in args.hidden_units.split(",")]
    except ValueError:
        p.error("--configs is model:latent_dim[,...] and --hidden-units a list of integers")
    for m, d in args.configs:
        if m not in ("vae", "ae") or d < 1:
            p.error(f"bad config {m}:{d} (model is vae or ae, latent_dim positive)")
    return args


def batches(args, count=4):
    """`count` batches of pixels in [0, 1], each a flat list of batch_size * 784 floats (image-major,
    row-major 28 x 28): the first count * batch_size MNIST training images (--data mnist), or uniform
    draws from --seed. The peers reshape them to their layouts."""
    n = count * args.batch_size
    if args.data == "uniform":
        rng = random.Random(args.seed)
        flat = [rng.random() for _ in range(n * 784)]
    else:
        with gzip.open(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz")) as f:
            magic, images, rows, cols = struct.unpack(">IIII", f.read(16))
            if magic != 2051 or (rows, cols) != (28, 28) or images < n:
                raise SystemExit(f"{args.data_dir}: not MNIST's training images with at least {n} images")
            flat = [b / 255.0 for b in f.read(n * 784)]
    size = args.batch_size * 784
    return [flat[i * size:(i + 1) * size] for i in range(count)]


def median_rate(fn, batch, warmup, reps, steps, sync=lambda out: None):
    """Images/s of `fn` (one step on `batch` images): the median of `reps` timed runs of `steps`
    steps after `warmup` untimed ones, each run's rate, and the cores the process kept busy over
    the timed runs (its CPU time, every thread's, over the wall time). `sync(out)` waits for the
    last step's result (a framework that returns before the work is done)."""
    out = None
    for _ in range(warmup):
        out = fn()
    if warmup:
        sync(out)
    rates, cpu, wall = [], 0.0, 0.0
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(steps):
            out = fn()
        sync(out)
        elapsed = time.perf_counter() - t0
        cpu, wall = cpu + time.process_time() - c0, wall + elapsed
        rates.append(steps * batch / elapsed)
    return statistics.median(rates), rates, cpu / wall


def print_all(args, bench_one):
    """One JSON line per model configuration: `bench_one(kind, latent_dim, hidden_units)`."""
    for h in args.hidden_units:
        for kind, d in args.configs:
            print(json.dumps(bench_one(kind, d, h)), flush=True)
