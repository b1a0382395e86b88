#!/usr/bin/env python3
"""Side-by-side throughput of vaelab, Keras 3 / TensorFlow (CPU) and PyTorch (CPU).

Runs with the system python3 (standard library only); the peers run in their own virtual
environments (.venv-bench-tf, .venv-bench-torch: `make bench-compare` creates them).

For each BLAS kernel setting
  env    the environment as it is;
  unset  the same with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed, for these child
         processes only (skipped, with a note, when neither variable is set: it would be
         the same run twice);
it runs, one after the other (never two measurements at once, except the pairs below), each
kind for every peer back to back:
  vaelab bench --json --hidden-units 16,256 --threads N       N = 1, 2
  keras_bench.py / torch_bench.py --threads N                  N = 1, 2
  two processes side by side, one thread each (vaelab, Keras, PyTorch): their images/s added;
  the 1-thread run again with the process pinned to one CPU (sched_setaffinity, as a Slurm job
  with --cpus-per-task=1 is confined): "1 core", where no peer's inter-op pool finds a second.
With --rounds R the whole plan runs R times (the peers' order rotated) and each cell is the
median of its rounds.
Then it prints the Markdown tables (all runs; the pinned ones) and writes the raw results to
bench/results/compare-<setting>.json (and the tables to bench/results/compare.md).

  python3 bench/compare.py [--quick] [--reps 7] [--steps 10] [--warmup 5] [--rounds 1]
                           [--only vaelab,torch,keras] [--settings env,unset]
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CONFIGS = [("vae", 2), ("vae", 16), ("ae", 16)]
PEERS = ("vaelab", "keras", "torch")
LABEL = {"vaelab": "vaelab", "keras": "Keras", "torch": "PyTorch"}
# (name, label, threads, processes, pinned to one CPU) of each kind of run, in the order they run
RUN_KINDS = (("threads1", "1t", 1, 1, False), ("core1", "1 core", 1, 1, True), ("threads2", "2t", 2, 1, False),
             ("pair", "2 proc", 1, 2, False))
# (column label, kind of run, "train" or "eval") of each table's measures
MEASURES = [("train 1t", "threads1", "train"), ("train 2t", "threads2", "train"), ("eval 1t", "threads1", "eval"),
            ("2 proc", "pair", "train")]
CORE_MEASURES = [("train 1 core", "core1", "train"), ("eval 1 core", "core1", "eval")]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke check: few steps (numbers are NOT a measurement)")
    p.add_argument("--reps", type=int, default=None, help="peer repetitions, median reported (default 7; quick 3)")
    p.add_argument("--steps", type=int, default=None, help="peer steps per repetition (default 10; quick 2); "
                   "vaelab times reps*steps single steps and reports their median")
    p.add_argument("--warmup", type=int, default=None, help="peer warm-up steps (default 5; quick 1)")
    p.add_argument("--only", default="vaelab,keras,torch",
                   help="comma-separated subset of vaelab,keras,torch (default: all three)")
    p.add_argument("--settings", default="env,unset",
                   help="kernel settings to run: env (as is), unset (OPENBLAS_CORETYPE/L2_SIZE removed)")
    p.add_argument("--hidden-units", default="16,256", help="hidden widths H (default: 16,256)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run the whole plan this many times, peers' order rotated, and report each cell's "
                        "median (default 1): steadier ratios on a machine whose speed drifts")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--vaelab", default=os.path.join(ROOT, ".build", "release", "vaelab"))
    p.add_argument("--torch-python", default=os.path.join(ROOT, ".venv-bench-torch", "bin", "python"))
    p.add_argument("--keras-python", default=os.path.join(ROOT, ".venv-bench-tf", "bin", "python"))
    p.add_argument("--results-dir", default=os.path.join(ROOT, "bench", "results"))
    p.add_argument("--timeout", type=float, default=7200, help="seconds allowed for one benchmark process")
    a = p.parse_args(argv)
    a.reps = a.reps if a.reps is not None else (3 if a.quick else 7)
    a.steps = a.steps if a.steps is not None else (2 if a.quick else 10)
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 5)
    if min(a.reps, a.steps, a.batch_size, a.rounds) < 1 or a.warmup < 0:
        p.error("--reps, --steps, --rounds and --batch-size must be positive, --warmup non-negative")
    a.only = [x.strip().lower().replace("pytorch", "torch") for x in a.only.split(",") if x.strip()]
    bad = [x for x in a.only if x not in PEERS]
    if bad or not a.only:
        p.error(f"--only takes a subset of vaelab,keras,torch, got {bad or a.only}")
    a.settings = [x.strip() for x in a.settings.split(",") if x.strip()]
    if not a.settings or any(s not in ("env", "unset") for s in a.settings):
        p.error("--settings takes env and/or unset")
    try:
        a.hidden_units = [int(h) for h in a.hidden_units.split(",")]
    except ValueError:
        p.error("--hidden-units is a comma-separated list of integers")
    return a


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def openblas_package_version():
    if not shutil.which("dpkg-query"):
        return None
    for pkg in ("libopenblas0-pthread", "libopenblas0", "libopenblas-dev"):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return f"{pkg} {r.stdout.strip()}"
    return None


def expected_parameters(kind, d, h):
    """Parameter count of the reference architecture (DESIGN.md), to check the peers build it."""
    enc = (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (3136 * h + h) + (2 if kind == "vae" else 1) * (h * d + d)
    dec = (d * 3136 + 3136) + (64 * 64 * 9 + 64) + (64 * 32 * 9 + 32) + (32 * 9 + 1)
    return enc + dec


# --- running one benchmark process -------------------------------------------------------

def command(peer, threads, args, processes=1, pinned=False):
    if peer == "vaelab":
        # The 1-thread run alone also times two runs side by side in its one process
        # (`vaelab run --jobs 2`) and the IWAE bound (k = 100, in the JSON only: the peers have
        # no IWAE); the others skip both.
        alone = threads == 1 and processes == 1 and not pinned
        return [args.vaelab, "bench", "--json", "--hidden-units", ",".join(map(str, args.hidden_units)),
                "--threads", str(threads), "--batch-size", str(args.batch_size),
                "--steps", str(args.reps * args.steps), "--jobs", "2" if alone else "1",
                "--iwae-samples", "100" if alone else "0"]
    script = os.path.join(ROOT, "bench", "keras_bench.py" if peer == "keras" else "torch_bench.py")
    python = args.keras_python if peer == "keras" else args.torch_python
    return [python, script, "--threads", str(threads), "--batch-size", str(args.batch_size),
            "--configs", ",".join(f"{m}:{d}" for m, d in CONFIGS),
            "--hidden-units", ",".join(map(str, args.hidden_units)),
            "--warmup", str(args.warmup), "--reps", str(args.reps), "--steps", str(args.steps)]


def parse_output(peer, stdout, threads):
    """-> {(model, d, h): {"train":, "eval":}}, metadata. Raises ValueError on bad output."""
    rows, meta = {}, {}
    if peer == "vaelab":
        report = json.loads(stdout)
        if report.get("blas_threads") != threads:
            raise ValueError(f"asked for {threads} BLAS thread(s), vaelab reports {report.get('blas_threads')}")
        meta = {"blas_core": report.get("blas_core"), "blas_threads": report.get("blas_threads"),
                "sgemm_gflops": report.get("sgemm_gflops")}
        for m in report["models"]:
            rows[(m["kind"], m["latent_dim"], m["hidden_units"])] = {
                "train": m["images_per_second"], "eval": m["eval_images_per_second"]}
        return rows, meta, report
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise ValueError("no JSON lines in the output")
    for r in lines:
        if r.get("threads") != threads:
            raise ValueError(f"asked for {threads} thread(s), the peer reports {r.get('threads')}")
        want = expected_parameters(r["model"], r["latent_dim"], r["hidden_units"])
        if r.get("parameters") != want:
            raise ValueError(f"{r['model']} d={r['latent_dim']} H={r['hidden_units']}: "
                             f"{r.get('parameters')} parameters, the reference architecture has {want}")
        rows[(r["model"], r["latent_dim"], r["hidden_units"])] = {
            "train": r["train_images_per_second"], "eval": r["eval_images_per_second"]}
    first = lines[0]
    keys = ("version", "tensorflow_version", "jit_compile", "onednn_opts", "compile", "memory_format")
    meta = {k: first[k] for k in keys if k in first}
    return rows, meta, lines


def pinned_cpu():
    """The CPU a pinned run is confined to: the last this process may run on (the first takes
    more of the host's interrupts)."""
    return max(os.sched_getaffinity(0))


def run_processes(peer, threads, count, env, args, pinned=False):
    """Starts `count` identical processes at once, each confined to `pinned_cpu()` when `pinned`;
    returns (rows summed over them, meta, raw, error)."""
    cmd = command(peer, threads, args, count, pinned)
    cpu = pinned_cpu() if pinned else None
    confine = (lambda: os.sched_setaffinity(0, {cpu})) if pinned else None
    t0 = time.time()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                              preexec_fn=confine)
             for _ in range(count)]
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
                q.wait()
            return None, {}, None, f"timed out after {args.timeout:.0f} s"
        outs.append((p.returncode, out, err))
    elapsed = time.time() - t0
    total, meta, raws = {}, {}, []
    for code, out, err in outs:
        if code != 0:
            return None, {}, None, f"exit status {code}: {err.strip()[-2000:]}"
        try:
            rows, meta, raw = parse_output(peer, out, threads)
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            return None, {}, None, f"unreadable output ({e}): {out[-500:]} {err.strip()[-1500:]}"
        raws.append(raw)
        for key, v in rows.items():
            acc = total.setdefault(key, {"train": 0.0, "eval": 0.0})
            acc["train"] += v["train"]
            acc["eval"] += v["eval"]
    meta["wall_seconds"] = elapsed
    if pinned:
        meta["pinned_cpu"] = cpu
    return total, meta, raws if count > 1 else raws[0], None


def run_plan(args):
    """(round, peer, run, threads, processes, pinned) in the order they run: each kind of run for every
    peer back to back (so that a row's peers are measured minutes apart, not a whole framework's
    block apart), and with --rounds R the whole plan R times, the peers' order rotated each round."""
    peers = [p for p in PEERS if p in args.only]
    plan = []
    for rnd in range(args.rounds):
        order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
        for name, _, threads, count, pinned in RUN_KINDS:
            if pinned and not hasattr(os, "sched_setaffinity"):
                continue  # not on this OS (Linux has it): no "1 core" table
            plan += [(rnd, peer, name, threads, count, pinned) for peer in order]
    return plan


def run_setting(setting, env, args):
    """All runs of one kernel setting -> result dict (JSON-ready). A cell is the median of its
    rounds (each round's own figures are kept under "rounds")."""
    result = {"setting": setting, "removed_variables": list(BLAS_VARS) if setting == "unset" else [],
              "blas_variables": {k: env.get(k) for k in BLAS_VARS},
              "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "load_average_before": os.getloadavg(), "runs": {}, "errors": []}
    for rnd, peer, name, threads, count, pinned in run_plan(args):
        what = (f"[{setting}]" + (f" round {rnd + 1}/{args.rounds}" if args.rounds > 1 else "") + f" {LABEL[peer]}: "
                + ("2 processes x 1 thread" if count == 2 else f"{threads} thread(s)")
                + (f" pinned to CPU {pinned_cpu()}" if pinned else ""))
        log(what + " ...")
        t0 = time.time()
        rows, meta, raw, error = run_processes(peer, threads, count, env, args, pinned)
        if error:
            log(f"{what}: FAILED: {error}")
            result["errors"].append({"peer": peer, "run": name, "round": rnd + 1, "error": error})
            continue
        log(f"{what}: done in {time.time() - t0:.0f} s")
        run = result["runs"].setdefault(peer, {}).setdefault(name, {
            "threads": threads, "processes": count, "pinned": pinned,
            "command": command(peer, threads, args, count, pinned),
            "meta": meta, "rounds": [], "raw": []})
        run["rounds"].append([{"model": k[0], "latent_dim": k[1], "hidden_units": k[2],
                               "train_images_per_second": v["train"], "eval_images_per_second": v["eval"]}
                              for k, v in sorted(rows.items())])
        run["raw"].append(raw)
    for runs in result["runs"].values():
        for run in runs.values():
            cells = {}
            for rows in run["rounds"]:
                for r in rows:
                    cells.setdefault((r["model"], r["latent_dim"], r["hidden_units"]), []).append(r)
            run["results"] = [{"model": k[0], "latent_dim": k[1], "hidden_units": k[2],
                               "train_images_per_second": statistics.median(r["train_images_per_second"] for r in rs),
                               "eval_images_per_second": statistics.median(r["eval_images_per_second"] for r in rs)}
                              for k, rs in sorted(cells.items())]
    result["load_average_after"] = os.getloadavg()
    return result


# --- the table ----------------------------------------------------------------------------

def lookup(result, peer, run, model, d, h, field):
    for r in result["runs"].get(peer, {}).get(run, {}).get("results", []):
        if (r["model"], r["latent_dim"], r["hidden_units"]) == (model, d, h):
            return r[field]
    return None


def fmt(x):
    return "—" if x is None else f"{x:,.0f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def blas_core(result):
    return result["runs"].get("vaelab", {}).get("threads1", {}).get("meta", {}).get("blas_core")


def versions(results):
    v = {"vaelab": None, "keras": None, "tensorflow": None, "torch": None, "jit_compile": None, "torch_compile": None,
         "memory_format": None}
    for res in results:
        for peer, runs in res["runs"].items():
            for run in runs.values():
                m = run["meta"]
                if peer == "keras":
                    v["keras"], v["tensorflow"] = m.get("version"), m.get("tensorflow_version")
                    v["jit_compile"] = m.get("jit_compile")
                elif peer == "torch":
                    v["torch"], v["torch_compile"], v["memory_format"] = (
                        m.get("version"), m.get("compile"), m.get("memory_format"))
    return v


def table(results, args, vaelab_version, skipped):
    v = versions(results)
    parts = [f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)",
             f"vaelab {vaelab_version or '?'}" + (f" on {openblas_package_version()}" if openblas_package_version() else "")]
    if "keras" in args.only:
        parts.append(f"Keras {v['keras'] or '?'} on TensorFlow-CPU {v['tensorflow'] or '?'} "
                     f"(tf.function train step, jit_compile={'on' if v['jit_compile'] else 'off (Keras auto on CPU)'})")
    if "torch" in args.only:
        compiled = {"none": "no torch.compile", "eval": "evaluation through torch.compile, training eager",
                    "all": "training and evaluation through torch.compile"}.get(v["torch_compile"], "?")
        parts.append(f"PyTorch {v['torch'] or '?'} ({compiled}; {v['memory_format'] or '?'})")
    kernels = []
    for res in results:
        s = res["setting"]
        desc = "environment as is" if s == "env" else "OPENBLAS_CORETYPE/L2_SIZE unset"
        set_vars = ", ".join(f"{k}={val}" for k, val in res["blas_variables"].items() if val is not None) or "neither set"
        load = f"load average {res['load_average_before'][0]:.2f} before, {res['load_average_after'][0]:.2f} after"
        kernels.append(f"{s} ({desc}; {set_vars}): vaelab blas_core = {blas_core(res) or '?'}, {load}")
    kernels += skipped
    lines = []
    if args.quick:
        lines.append("**QUICK SMOKE RUN (--quick): too few steps, NOT a measurement.**\n")
    lines.append("Images/s, batch " + f"{args.batch_size}; " + "; ".join(parts) + ".  ")
    lines.append("BLAS kernel: " + "; ".join(kernels) + ".  ")
    lines.append("train 1t / 2t: training step (forward, loss, backward, Adam) with 1 / 2 threads; eval 1t: "
                 "encoder + decoder forward, no gradients, 1 thread; 2 proc: two 1-thread processes side by "
                 "side, training images/s added. Ratios: vaelab / peer for train 1t · train 2t · eval 1t · 2 proc. "
                 f"Peers: median of {args.reps} reps x {args.steps} steps after {args.warmup} warm-up steps; "
                 f"vaelab: median of {args.reps * args.steps} single steps"
                 + (f"; each cell the median of {args.rounds} rounds of the whole plan (peers' order rotated)"
                    if args.rounds > 1 else "") + ".\n")
    shown = [p for p in PEERS if p in args.only]
    rivals = [p for p in shown if p != "vaelab"] if "vaelab" in shown else []
    lines += measure_table(results, args, shown, rivals, MEASURES)
    pinned = sorted({run["meta"]["pinned_cpu"] for res in results for runs in res["runs"].values()
                     for run in runs.values() if "pinned_cpu" in run["meta"]})
    if pinned:
        lines.append(f"\nOne core: the 1-thread runs again, each process pinned to CPU {', '.join(map(str, pinned))} "
                     "(sched_setaffinity; a Slurm job with --cpus-per-task=1 is confined the same way), so that "
                     "no inter-op pool runs on the other core. Ratios: vaelab / peer for train · eval.\n")
        lines += measure_table(results, args, shown, rivals, CORE_MEASURES)
    jobs = []
    for res in results:
        scalings = {}   # each round's `vaelab bench` side-by-side figures, by model; medians shown
        for raw in res["runs"].get("vaelab", {}).get("threads1", {}).get("raw") or []:
            for p in raw.get("parallel", []):
                scalings.setdefault(p["name"], []).append(p)
        for name, ps in scalings.items():
            m = {k: statistics.median(p[k] for p in ps)
                 for k in ("parallel_images_per_second", "speedup", "single_images_per_second", "sgemm_speedup")}
            jobs.append(f"{res['setting']} ({blas_core(res) or '?'}) {name}: {m['parallel_images_per_second']:,.0f} img/s"
                        f" = {m['speedup']:.2f}x one run ({m['single_images_per_second']:,.0f} img/s; an in-cache"
                        f" sgemm: {m['sgemm_speedup']:.2f}x)")
    if jobs:
        lines.append("\nvaelab run --jobs 2 (two training runs in one process, one BLAS thread each, against one "
                     "alone; medians of alternating rounds in `vaelab bench`): " + "; ".join(jobs) + ".")
    busy = cores_busy(results, rivals)
    if busy:
        lines.append("\nCores each peer process kept busy over its timed steps (its CPU time over the wall time; "
                     "the range over models and rounds; vaelab runs on exactly its 1 or 2 threads): "
                     + "; ".join(busy) + ".")
    return "\n".join(lines)


def measure_table(results, args, shown, rivals, measures):
    """Markdown rows: a row per setting and model, a column per measure and peer, then one
    column of ratios (vaelab / peer, one per measure) per rival."""
    head = ["BLAS", "model"]
    for name, _, _ in measures:
        head += [f"{name}: {LABEL[peer]}" for peer in shown]
    head += [f"vaelab/{LABEL[p]}" for p in rivals]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
    for res in results:
        for h in args.hidden_units:
            for model, d in CONFIGS:
                cells = {peer: [lookup(res, peer, run, model, d, h, f"{what}_images_per_second")
                                for _, run, what in measures] for peer in PEERS}
                row = [f"{res['setting']} ({blas_core(res) or '?'})", f"{model} d={d} H={h}"]
                for i in range(len(measures)):
                    row += [fmt(cells[peer][i]) for peer in shown]
                for peer in rivals:
                    row.append(" · ".join(ratio(a, b) for a, b in zip(cells["vaelab"], cells[peer])))
                lines.append("| " + " | ".join(row) + " |")
    return lines


def peer_lines(res, peer, run):
    """The JSON lines a peer printed in one kind of run, over every round and process."""
    lines = []
    for raw in res["runs"].get(peer, {}).get(run, {}).get("raw") or []:
        for item in raw:  # a pair's raw holds one list of lines per process
            lines += item if isinstance(item, list) else [item]
    return lines


def cores_busy(results, peers):
    """'<setting> <peer>: train 1t 1.31-1.36, ...' from the peers' own train/eval_cores_busy
    (evaluation shown for the one-thread runs, where the tables show it)."""
    out = []
    for res in results:
        for peer in peers:
            parts = []
            for run, label, threads, count, _ in RUN_KINDS:
                lines = peer_lines(res, peer, run)
                for field, what in (("train_cores_busy", "train"), ("eval_cores_busy", "eval")):
                    values = [r[field] for r in lines if isinstance(r.get(field), (int, float))]
                    if values and (what == "train" or (threads, count) == (1, 1)):
                        parts.append(f"{what} {label} {min(values):.2f}-{max(values):.2f}")
            if parts:
                out.append(f"{res['setting']} {LABEL[peer]}: " + ", ".join(parts))
    return out


def main():
    args = parse_args()
    need = {"vaelab": args.vaelab, "keras": args.keras_python, "torch": args.torch_python}
    missing = [f"{p}: {need[p]}" for p in args.only if not os.access(need[p], os.X_OK)]
    if missing:
        sys.exit("missing (run `make bench-compare`, which builds vaelab and creates the venvs):\n  "
                 + "\n  ".join(missing))
    vaelab_version = None
    if os.access(args.vaelab, os.X_OK):
        r = subprocess.run([args.vaelab, "--version"], capture_output=True, text=True)
        vaelab_version = r.stdout.strip() or None

    base = dict(os.environ)
    results, skipped = [], []
    for setting in args.settings:
        if setting == "unset" and "env" in args.settings and not any(k in base for k in BLAS_VARS):
            note = "unset: skipped, identical to env (neither OPENBLAS_CORETYPE nor OPENBLAS_L2_SIZE is set)"
            log(note)
            skipped.append(note)
            continue
        env = dict(base)
        if setting == "unset":
            for k in BLAS_VARS:
                env.pop(k, None)
        res = run_setting(setting, env, args)
        res.update({"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "quick": args.quick,
                    "options": {"reps": args.reps, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
                                "batch_size": args.batch_size, "hidden_units": args.hidden_units,
                                "only": args.only},
                    "vaelab_version": vaelab_version, "openblas_package": openblas_package_version()})
        os.makedirs(args.results_dir, exist_ok=True)
        path = os.path.join(args.results_dir, f"compare-{setting}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(path + ".tmp", path)
        log(f"wrote {path}")
        results.append(res)

    text = table(results, args, vaelab_version, skipped)
    print(text)
    md = os.path.join(args.results_dir, "compare.md")
    os.makedirs(args.results_dir, exist_ok=True)
    with open(md, "w") as f:
        f.write(text + "\n")
    errors = [e for r in results for e in r["errors"]]
    for e in errors:
        log(f"error: {e['peer']} {e['run']}: {e['error'][:300]}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
