#!/usr/bin/env python3
"""imbdef's dense ops against PyTorch (CPU, oneDNN) at the same shapes, forward plus backward.

Usage:
    dense_vs_torch.py BENCH_DENSE [--filter REGEX] [--repetitions N] [--allocator NAME|all]

Runs the Google Benchmark binary bench_dense (built from bench/bench_dense.cpp) with
--benchmark_format=json, takes the minimum over repetitions of each case's forward and backward
times, rebuilds every case in PyTorch with torch.set_num_threads equal to the benchmark's thread
count, times forward and forward+backward (autograd) the same way, and prints

    op, layer, shape, imbdef ms, torch ms, ratio (torch / imbdef; > 1 means imbdef is faster)

for forward + backward (and, with --forward, for the forward alone). The PyTorch side runs in a
subprocess per allocator: glibc (default), glibc-tuned (MALLOC_MMAP_THRESHOLD_ / TRIM / TOP_PAD
raised, so freed buffers are reused instead of returned to the kernel), jemalloc and tcmalloc
(LD_PRELOAD). With --allocator all, each row uses PyTorch's best allocator and names it.

What PyTorch runs:
  conv2d         F.conv2d(x, w, stride, padding); backward: grads of x and w.
  modconv(_fused) StyleGAN3's modulated_conv2d: weight and style pre-normalisation, per-sample
                 weights, demodulation, one grouped conv2d (groups = N); backward: x, w, styles.
  fc             addmm with the equalised-learning-rate gains, then lrelu * sqrt 2 (if any);
                 backward: x, w, b.
  bias_act       (x + b) -> leaky_relu(0.2) * sqrt 2 -> clamp(+-256); backward: x, b.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

ALLOCATORS = {
    "glibc": {},
    "glibc-tuned": {
        "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
        "MALLOC_TRIM_THRESHOLD_": str(16 * 1024 * 1024 * 1024),
        "MALLOC_TOP_PAD_": str(1024 * 1024 * 1024),
    },
    "jemalloc": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
    "tcmalloc": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
}

NAME = re.compile(r"^(?P<op>[a-z_0-9]+)/(?P<layer>[^/]+)/(?P<shape>[^/]+)/(?P<phase>fwd|bwd)")


def parse_shape(text):
    """n8_c128_h64_w64_o128_k3_s1_p1 -> {'n': 8, 'c': 128, ...}"""
    out = {}
    for part in text.split("_"):
        m = re.match(r"^([a-z]+)(-?\d+)$", part)
        if not m:
            raise ValueError(f"unexpected shape field {part!r} in {text!r}")
        out[m.group(1)] = int(m.group(2))
    return out


def run_benchmark(binary, regex, repetitions, min_time, cpu_time=False):
    cmd = [binary, f"--benchmark_filter={regex}", "--benchmark_format=json",
           f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true",
           f"--benchmark_min_time={min_time}"]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    if not result.stdout.strip():
        sys.exit(f"{binary} gave no output for the filter {regex!r}: {result.stderr.strip()}")
    data = json.loads(result.stdout)
    cases = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "min":
            continue
        m = NAME.match(b["run_name"])
        if not m:
            continue
        key = (m.group("op"), m.group("layer"), m.group("shape"))
        unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
        case = cases.setdefault(key, {"threads": int(b.get("pool_threads", 1))})
        case[m.group("phase")] = b["cpu_time" if cpu_time else "real_time"] * unit
    return cases


# --- The PyTorch side (runs in a subprocess per allocator) ------------------------------------

def torch_cases(cases, threads, repetitions, min_time, cpu_time=False):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    clock = time.thread_time if cpu_time else time.perf_counter

    def timed(fn):
        fn()
        fn()
        best = math.inf
        for _ in range(repetitions):
            iters, start = 0, clock()
            while True:
                fn()
                iters += 1
                elapsed = clock() - start
                if elapsed >= min_time:
                    break
            best = min(best, elapsed / iters)
        return best * 1e3

    def sg3_modconv(x, w, s, demodulate, k):
        n, i = s.shape
        if demodulate:  # StyleGAN3's pre-normalisation
            w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
            s = s * s.square().mean().rsqrt()
        wn = w.unsqueeze(0) * s.unsqueeze(1).unsqueeze(3).unsqueeze(4)
        if demodulate:
            d = (wn.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
            wn = wn * d.unsqueeze(2).unsqueeze(3).unsqueeze(4)
        wn = wn * 1.0  # input gain
        xg = x.reshape(1, -1, *x.shape[2:])
        y = F.conv2d(xg, wn.reshape(-1, i, k, k), padding=k - 1, groups=n)
        return y.reshape(n, -1, *y.shape[2:])

    results = {}
    for key, case in cases.items():
        op, _layer, shape_text = key
        p = parse_shape(shape_text)
        n = p["n"]
        if op == "conv2d":
            x = torch.randn(n, p["c"], p["h"], p["w"], requires_grad=True)
            w = torch.randn(p["o"], p["c"], p["k"], p["k"], requires_grad=True)
            fwd = lambda: F.conv2d(x, w, stride=p["s"], padding=p["p"])
            inputs = [x, w]
        elif op in ("modconv", "modconv_fused"):
            x = torch.randn(n, p["c"], p["h"], p["w"], requires_grad=True)
            w = torch.randn(p["o"], p["c"], p["k"], p["k"], requires_grad=True)
            s = (torch.randn(n, p["c"]) * 0.3 + 1.0).requires_grad_(True)
            fwd = lambda: sg3_modconv(x, w, s, bool(p["d"]), p["k"])
            inputs = [x, w, s]
        elif op == "fc":
            x = torch.randn(n, p["i"], requires_grad=True)
            w = torch.randn(p["o"], p["i"], requires_grad=True)
            b = torch.randn(p["o"], requires_grad=True)
            lr = 0.01 if key[1] == "mapping" else 1.0
            wg, bg = lr / math.sqrt(p["i"]), lr

            def fwd(x=x, w=w, b=b, wg=wg, bg=bg, act=p["a"]):
                y = torch.addmm(b * bg, x, (w * wg).t())
                return F.leaky_relu(y, 0.2) * math.sqrt(2) if act else y
            inputs = [x, w, b]
        elif op == "bias_act":
            x = torch.randn(n, p["c"], p["h"], p["w"], requires_grad=True)
            b = torch.randn(p["c"], requires_grad=True)

            def fwd(x=x, b=b):
                y = F.leaky_relu(x + b.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)
                return y.clamp(-256, 256)
            inputs = [x, b]
        else:
            continue
        with torch.no_grad():
            t_fwd = timed(fwd)
        grad = torch.randn_like(fwd())

        def fwd_bwd(fwd=fwd, inputs=inputs, grad=grad):
            y = fwd()
            torch.autograd.grad(y, inputs, grad)
        t_fb = timed(fwd_bwd)
        results["|".join(key)] = {"fwd": t_fwd, "fwd_bwd": t_fb}
    return results


def server(args):
    """Answers one case per line of stdin (JSON: key, case) with one line of timings, until EOF."""
    config = json.loads(args.torch_server)
    for line in sys.stdin:
        request = json.loads(line)
        key = tuple(request["key"].split("|"))
        out = torch_cases({key: request["case"]}, config["threads"], config["repetitions"], config["min_time"],
                          config["cpu_time"])
        print(json.dumps(out.get(request["key"], {})), flush=True)


def worker(args):
    with open(args.torch_worker) as f:
        job = json.load(f)
    cases = {tuple(k.split("|")): v for k, v in job["cases"].items()}
    out = torch_cases(cases, job["threads"], job["repetitions"], job["min_time"], job["cpu_time"])
    with open(job["output"], "w") as f:
        json.dump(out, f)


def run_torch(cases, allocator, threads, repetitions, min_time, cpu_time=False):
    env = dict(os.environ)
    env.update(ALLOCATORS[allocator])
    if "LD_PRELOAD" in ALLOCATORS[allocator] and not os.path.exists(ALLOCATORS[allocator]["LD_PRELOAD"]):
        print(f"# {allocator}: {ALLOCATORS[allocator]['LD_PRELOAD']} not found, skipped", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        job_path, out_path = os.path.join(tmp, "job.json"), os.path.join(tmp, "out.json")
        with open(job_path, "w") as f:
            json.dump({"cases": {"|".join(k): v for k, v in cases.items()}, "threads": threads,
                       "repetitions": repetitions, "min_time": min_time, "cpu_time": cpu_time,
                       "output": out_path}, f)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-worker", job_path], env=env, check=True)
        with open(out_path) as f:
            return json.load(f)


def interleaved(args, allocators):
    """Case by case: imbdef's two benchmarks, then each allocator's PyTorch worker; rounds repeat it."""
    listing = subprocess.run([args.binary, f"--benchmark_filter={args.filter}", "--benchmark_list_tests"],
                             check=True, capture_output=True, text=True).stdout.split()
    keys = []
    for name in listing:
        m = NAME.match(name)
        if m and m.group("phase") == "fwd":
            keys.append((m.group("op"), m.group("layer"), m.group("shape")))
    if not keys:
        sys.exit("no benchmark matched the filter")
    cases, torch_results, workers = {}, {}, {}
    threads = None
    try:
        for _ in range(max(1, args.rounds)):
            for key in keys:
                # Google Benchmark's POSIX regex: escape the metacharacters only (not '-').
                regex = "^" + re.sub(r"([.\\+*?()\[\]{}|^$])", r"\\\1", "/".join(key)) + "/(fwd|bwd)"
                ours = run_benchmark(args.binary, regex, args.repetitions, args.min_time, args.cpu_time).get(key)
                if not ours or "fwd" not in ours or "bwd" not in ours:
                    continue
                kept = cases.setdefault(key, ours)
                for phase in ("fwd", "bwd"):
                    kept[phase] = min(kept[phase], ours[phase])
                threads = kept["threads"]
                for a in allocators:
                    if a not in workers:
                        env = dict(os.environ)
                        env.update(ALLOCATORS[a])
                        if "LD_PRELOAD" in ALLOCATORS[a] and not os.path.exists(ALLOCATORS[a]["LD_PRELOAD"]):
                            continue
                        config = json.dumps({"threads": threads, "repetitions": args.repetitions,
                                             "min_time": args.min_time, "cpu_time": args.cpu_time})
                        workers[a] = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--torch-server",
                                                       config], env=env, stdin=subprocess.PIPE,
                                                      stdout=subprocess.PIPE, text=True)
                    w = workers[a]
                    w.stdin.write(json.dumps({"key": "|".join(key), "case": cases[key]}) + "\n")
                    w.stdin.flush()
                    got = json.loads(w.stdout.readline())
                    slot = torch_results.setdefault(a, {}).setdefault("|".join(key), got)
                    for field, t in got.items():
                        slot[field] = min(slot[field], t)
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait()
    return cases, torch_results, threads


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?", help="path to bench_dense")
    ap.add_argument("--filter", default=".", help="benchmark filter (regex), as --benchmark_filter")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition")
    ap.add_argument("--allocator", default="all", choices=list(ALLOCATORS) + ["all"])
    ap.add_argument("--cpu-time", action="store_true",
                    help="compare thread CPU time instead of wall time (needs IMBDEF_NUM_THREADS=1; "
                         "insensitive to other load on the machine)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate the two sides this many times and keep each side's minimum "
                         "(steadier on a shared machine)")
    ap.add_argument("--forward", action="store_true", help="also print forward-only rows")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--interleave", action="store_true",
                    help="measure case by case, alternating imbdef and every allocator's PyTorch (persistent "
                         "workers), so that both sides see the same conditions on a shared machine")
    ap.add_argument("--torch-worker", help=argparse.SUPPRESS)
    ap.add_argument("--torch-server", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        worker(args)
        return
    if args.torch_server:
        server(args)
        return
    if not args.binary:
        ap.error("the path to bench_dense is required")

    cases, torch_results = {}, {}
    allocators = list(ALLOCATORS) if args.allocator == "all" else [args.allocator]
    if args.interleave:
        cases, torch_results, threads = interleaved(args, allocators)
    for _ in range(0 if args.interleave else max(1, args.rounds)):
        for key, case in run_benchmark(args.binary, args.filter, args.repetitions, args.min_time,
                                       args.cpu_time).items():
            if "fwd" not in case or "bwd" not in case:
                continue
            kept = cases.setdefault(key, case)
            for phase in ("fwd", "bwd"):
                kept[phase] = min(kept[phase], case[phase])
        if not cases:
            sys.exit("no benchmark matched the filter")
        threads = max(v["threads"] for v in cases.values())
        if args.cpu_time and threads != 1:
            sys.exit("--cpu-time compares one thread: run with IMBDEF_NUM_THREADS=1")
        for a in allocators:
            r = run_torch(cases, a, threads, args.repetitions, args.min_time, args.cpu_time)
            if r is None:
                continue
            kept = torch_results.setdefault(a, r)
            for key, times in r.items():
                for field, t in times.items():
                    kept[key][field] = min(kept[key][field], t)

    def best(key, field):
        options = [(res["|".join(key)][field], a) for a, res in torch_results.items() if "|".join(key) in res]
        return min(options) if options else (math.nan, "-")

    print(f"# {'thread CPU' if args.cpu_time else 'wall'} time, min over {max(1, args.rounds)} round(s) x "
          f"{args.repetitions} repetitions on each side; {threads} thread(s); torch allocators tried: "
          f"{', '.join(torch_results)}")
    header = f"{'op':<14} {'layer':<18} {'shape':<34} {'imbdef ms':>10} {'torch ms':>10} {'ratio':>6}  allocator"
    rows = [("fwd+bwd", "fwd_bwd")] + ([("fwd", "fwd")] if args.forward else [])
    report = []
    for label, field in rows:
        print(f"\n## forward + backward" if field == "fwd_bwd" else "\n## forward only")
        print(header)
        for key in sorted(cases, key=lambda k: (k[0], k[1])):
            ours = cases[key]["fwd"] + (cases[key]["bwd"] if field == "fwd_bwd" else 0.0)
            theirs, alloc = best(key, field)
            ratio = theirs / ours if ours > 0 else math.nan
            print(f"{key[0]:<14} {key[1]:<18} {key[2]:<34} {ours:>10.3f} {theirs:>10.3f} {ratio:>6.2f}  {alloc}")
            report.append({"op": key[0], "layer": key[1], "shape": key[2], "phase": label, "imbdef_ms": ours,
                           "imbdef_fwd_ms": cases[key]["fwd"], "imbdef_bwd_ms": cases[key]["bwd"],
                           "torch_ms": theirs, "ratio": ratio, "allocator": alloc,
                           "torch_by_allocator": {a: r["|".join(key)][field] for a, r in torch_results.items()
                                                  if "|".join(key) in r}})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
