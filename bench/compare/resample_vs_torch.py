#!/usr/bin/env python3
"""imbdef's resample family against PyTorch, forward + backward, side by side on the same machine.

Runs the C++ benchmark binary (bench_resample) with --benchmark_format=json, rebuilds every case
it reports from the benchmark's label (shapes, factors, taps, pads), times the same computation
in PyTorch with torch.set_num_threads equal to the benchmark's thread count, and prints

    op, shape, imbdef ms, torch ms, ratio (torch / imbdef; > 1: imbdef is faster)

with imbdef ms = forward + backward and torch ms = one forward plus one backward through autograd.

PyTorch formulations (the reference's description of how StyleGAN3 runs on a CPU, §3.5 and §7):
  upfirdn2d       zero insertion (reshape + pad), F.pad / crop, depthwise conv2d (groups = C) with
                  the 2-D outer-product filter, strided slicing [::down, ::down];
  filtered_lrelu  x + b, that upfirdn2d (up, pads, gain up^2), bias_act (lrelu(0.2) * gain, clamp),
                  that upfirdn2d (down 2), autograd for the backward pass.
--separable also times StyleGAN3's own _upfirdn2d_ref, which applies a 1-D filter as two 1-D
depthwise convolutions, and reports the better of the two PyTorch times next to the 2-D one.

PyTorch's CPU speed depends on the allocator: --allocators runs the PyTorch side once per
configuration (glibc; glibc with MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ raised; jemalloc
and tcmalloc through LD_PRELOAD) in a child process and reports the best per case, naming it.

Usage:
  python3 bench/compare/resample_vs_torch.py build/resample/bench/bench_resample \\
      [--filter REGEX] [--threads 2] [--allocators glibc,glibc-tuned,jemalloc,tcmalloc] [--separable]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ALLOCATORS = {
    "glibc": {},
    "glibc-tuned": {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31),
                    "MALLOC_TOP_PAD_": str(1 << 28)},
    "jemalloc": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
    "tcmalloc": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
}


def parse_label(label):
    fields = dict(part.split("=", 1) for part in label.split())
    out = {"x": [int(v) for v in fields["x"].split(",")], "up": int(fields["up"]), "down": int(fields["down"]),
           "pad": [int(v) for v in fields["pad"].split(",")]}
    if "f" in fields:  # upfirdn2d
        out["op"] = "upfirdn2d"
        out["two_d"] = fields["f"].endswith("x2d")
        out["taps"] = int(fields["f"].replace("x2d", ""))
        out["gain"] = float(fields["gain"])
        if len(out["pad"]) == 2:
            out["pad"] = out["pad"] * 2
    else:
        out["op"] = "filtered_lrelu"
        out["fu"] = int(fields["fu"])
        out["fd"] = int(fields["fd"])
        out["torgb"] = fields["torgb"] == "1"
    return out


# ---------------------------------------------------------------------------------------------
# PyTorch side (imported only in the process that times it).

def torch_cases(cases, threads, separable, min_seconds):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def upfirdn2d(x, f, up, down, pad, gain, sep):
        n, c, h, w = x.shape
        px0, px1, py0, py1 = pad
        if up > 1:
            x = x.reshape(n, c, h, 1, w, 1)
            x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
            x = x.reshape(n, c, h * up, w * up)
        x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
        x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
        if f.ndim == 1 and sep:
            g = (f * gain ** 0.5).flip([0])
            x = F.conv2d(x, g[None, None, None, :].repeat(c, 1, 1, 1), groups=c)
            x = F.conv2d(x, g[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
        else:
            f2 = torch.outer(f, f) if f.ndim == 1 else f
            w2 = (f2 * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
            x = F.conv2d(x, w2, groups=c)
        return x[:, :, ::down, ::down]

    def filtered_lrelu(x, b, fu, fd, up, pad, sep, torgb):
        x = x + b[None, :, None, None]
        if not torgb:
            x = upfirdn2d(x, fu, up, 1, pad, up * up, sep)
            x = F.leaky_relu(x, 0.2) * (2 ** 0.5)
        x = x.clamp(-256, 256)
        if not torgb:
            x = upfirdn2d(x, fd, 1, 2, [0, 0, 0, 0], 1.0, sep)
        return x

    def time_it(fn):
        fn()  # warm-up: first-touch allocations, oneDNN primitive creation
        fn()
        times = []
        start = time.perf_counter()
        while len(times) < 3 or (time.perf_counter() - start < min_seconds and len(times) < 50):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return 1000 * statistics.median(times)

    results = {}
    for key, c in cases.items():
        variants = [False, True] if separable else [False]
        ms = {}
        for sep in variants:
            if c["op"] == "upfirdn2d":
                x = torch.randn(*c["x"], requires_grad=True)
                f = torch.rand(c["taps"], c["taps"]) if c["two_d"] else torch.rand(c["taps"])
                if sep and c["two_d"]:
                    continue

                def run(x=x, f=f, sep=sep):
                    y = upfirdn2d(x, f, c["up"], c["down"], c["pad"], c["gain"], sep)
                    y.backward(torch.ones_like(y))
                    x.grad = None
            else:
                x = torch.randn(*c["x"], requires_grad=True)
                b = torch.randn(c["x"][1], requires_grad=True)
                fu, fd = torch.rand(c["fu"]), torch.rand(c["fd"])
                p0, p1 = c["pad"]

                def run(x=x, b=b, fu=fu, fd=fd, sep=sep, p0=p0, p1=p1):
                    y = filtered_lrelu(x, b, fu, fd, c["up"], [p0, p1, p0, p1], sep, c["torgb"])
                    y.backward(torch.ones_like(y))
                    x.grad = None
                    b.grad = None
            ms["separable" if sep else "2d"] = time_it(run)
        results[key] = ms
    return results


def torch_child_main(args):
    cases = json.load(sys.stdin)
    json.dump(torch_cases(cases, args.threads, args.separable, args.min_seconds), sys.stdout)


# ---------------------------------------------------------------------------------------------

def run_imbdef(binary, regex, threads, repetitions):
    env = dict(os.environ, IMBDEF_NUM_THREADS=str(threads))
    cmd = [binary, "--benchmark_format=json", f"--benchmark_filter={regex}", "--benchmark_min_time=0.5",
           f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    thread_count = int(data["context"].get("imbdef_threads", threads))
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        m = re.match(r"(\w+)_(fwd|bwd)/([\w]+)", name)
        if not m:
            continue
        op, direction, case = m.groups()
        key = f"{op}/{case}"
        unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
        row = rows.setdefault(key, {"op": op, "case": case, "label": b.get("label", "")})
        row[direction] = b["real_time"] * unit
    return thread_count, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?")
    ap.add_argument("--filter", default=".", help="regex over op/case names, e.g. 'cpu64'")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--allocators", default="glibc,glibc-tuned,jemalloc,tcmalloc")
    ap.add_argument("--separable", action="store_true")
    ap.add_argument("--repetitions", type=int, default=3, help="imbdef benchmark repetitions (median)")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="PyTorch timing budget per case")
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:
        return torch_child_main(args)
    if not args.binary:
        ap.error("the path of bench_resample is required")

    regex = f"^(filtered_lrelu|upfirdn2d)_(fwd|bwd)/.*({args.filter})"
    threads, rows = run_imbdef(args.binary, regex, args.threads, args.repetitions)
    rows = {k: r for k, r in rows.items() if "fwd" in r and "bwd" in r and r["label"]}
    cases = {k: parse_label(r["label"]) for k, r in rows.items()}

    per_alloc = {}
    for name in [a for a in args.allocators.split(",") if a]:
        env = dict(os.environ, **ALLOCATORS[name])
        if "LD_PRELOAD" in ALLOCATORS[name] and not os.path.exists(ALLOCATORS[name]["LD_PRELOAD"]):
            print(f"# {name}: {ALLOCATORS[name]['LD_PRELOAD']} missing, skipped", file=sys.stderr)
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--torch-child", "--threads", str(threads),
               "--min-seconds", str(args.min_seconds)] + (["--separable"] if args.separable else [])
        out = subprocess.run(cmd, env=env, input=json.dumps(cases), check=True, capture_output=True, text=True).stdout
        per_alloc[name] = json.loads(out)
        print(f"# PyTorch timed under {name}", file=sys.stderr)

    import torch  # for the version line only
    print(f"# imbdef threads {threads}, torch {torch.__version__} with torch.set_num_threads({threads}); "
          f"allocators tried: {', '.join(per_alloc)}")
    header = f"{'op':<15} {'shape':<44} {'imbdef ms':>10} {'torch ms':>10} {'ratio':>7}  best allocator"
    if args.separable:
        header += f"   {'torch sep ms':>12} {'ratio sep':>9}"
    print(header)
    totals = {}
    for key in sorted(rows, key=lambda k: (rows[k]["op"], k)):
        r, c = rows[key], cases[key]
        ours = r["fwd"] + r["bwd"]
        best_2d = min(((per_alloc[a][key]["2d"], a) for a in per_alloc), default=(float("nan"), "-"))
        shape = f"{r['case']} " + r["label"].split(" torgb")[0].replace(" gain=1.000000", "")
        line = f"{r['op']:<15} {shape[:44]:<44} {ours:>10.2f} {best_2d[0]:>10.2f} {best_2d[0] / ours:>7.1f}  {best_2d[1]}"
        if args.separable:
            seps = [(per_alloc[a][key]["separable"], a) for a in per_alloc if "separable" in per_alloc[a][key]]
            if seps:
                best_sep = min(seps)
                line += f"   {best_sep[0]:>12.2f} {best_sep[0] / ours:>9.1f}"
        print(line)
        t = totals.setdefault(r["op"], [0.0, 0.0])
        t[0] += ours
        t[1] += best_2d[0]
    for op, (ours, theirs) in totals.items():
        print(f"# {op}: sum over cases imbdef {ours:.1f} ms, torch {theirs:.1f} ms, ratio {theirs / ours:.1f}")


if __name__ == "__main__":
    main()
