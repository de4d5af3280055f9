#!/usr/bin/env python3
"""Times the misc op family of imbdef against PyTorch at the same shapes.

Runs the C++ benchmark binary (bench/bench_misc.cpp) with --benchmark_format=json, then times
the equivalent PyTorch computation for every benchmarked (op, shape): the forward alone, forward
plus backward (autograd.grad of the output against a fixed upstream gradient), and for the
minibatch-std layer the second order R1 needs (torch: double backward; imbdef: forward, backward
and both tangent rules). torch runs with torch.set_num_threads equal to the benchmark's thread
count. PyTorch's speed depends on the allocator, so its timings are repeated in child processes
under glibc's malloc, glibc with MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ raised, jemalloc
and tcmalloc (LD_PRELOAD, where installed); the table shows the configuration with the lowest
geometric-mean torch time, and the per-configuration geometric means are printed below it.

    python3 bench/compare/misc_vs_torch.py build/misc/bench/bench_misc [--filter REGEX] [--min-time S]
        [--threads N] [--allocators glibc,glibc-tuned,jemalloc,tcmalloc]

Both sides report the fastest of 7 repetitions: on a shared machine other processes only add time.

ratio = torch time / imbdef time: above 1 means imbdef is faster.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

ALLOCATORS = {
    "glibc": {},
    "glibc-tuned": {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
                    "MALLOC_TOP_PAD_": str(64 << 20)},
    "jemalloc": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
    "tcmalloc": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
}

NAME = re.compile(r"^(?P<op>[a-z_0-9]+?)_(?P<pass>forward_tangent|backward_tangent|forward|backward)/(?P<shape>[0-9x]+)"
                  r"(?:/(?P<extra>[a-z0-9]+))?")
NAME_PLAIN = re.compile(r"^(?P<op>affine_grid)/(?P<shape>[0-9x]+)")


# ----------------------------------------------------------------------------------------------
# PyTorch formulations, written from the reference description (docs: reference/stylegan3.md).

def torch_cases(op, shape, extra):
    """Returns {'forward': fn, 'forward+backward': fn, ['second order': fn]} for one benchmark."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)

    def randn(*s, scale=1.0):
        return torch.randn(*s, generator=g) * scale

    def with_grad(fwd, inputs, grad_inputs):
        def run_fwd():
            with torch.no_grad():
                fwd(*inputs)
        y0 = fwd(*inputs)
        dy = randn(*y0.shape)

        def run_fwd_bwd():
            torch.autograd.grad(fwd(*inputs), grad_inputs, dy)
        return {"forward": run_fwd, "forward+backward": run_fwd_bwd}

    if op == "mbstd":
        n, c, h, w = shape

        def mbstd(x, group=4, f=1):
            n_, c_, h_, w_ = x.shape
            gs = min(group, n_)
            y = x.reshape(gs, -1, f, c_ // f, h_, w_)
            y = y - y.mean(dim=0)
            y = y.square().mean(dim=0)
            y = (y + 1e-8).sqrt()
            y = y.mean(dim=[2, 3, 4])
            y = y.reshape(-1, f, 1, 1)
            y = y.repeat(gs, 1, h_, w_)
            return torch.cat([x, y], dim=1)
        x = randn(n, c, h, w).requires_grad_()
        cases = with_grad(mbstd, [x], [x])
        dy = randn(n, c + 1, h, w)
        v = randn(n, c, h, w)

        def second():
            (gx,) = torch.autograd.grad(mbstd(x), x, dy, create_graph=True)
            torch.autograd.grad(gx, x, v)
        cases["second order"] = second
        return cases

    if op == "norm2":
        x = randn(*shape).requires_grad_()
        return with_grad(lambda z: z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt(), [x], [x])

    if op == "softplus":
        x = randn(*shape, scale=3.0).requires_grad_()
        return with_grad(F.softplus, [x], [x])

    if op == "sum":
        x = randn(*shape).requires_grad_()
        dims = [int(d) for d in extra.replace("axes", "")]
        return with_grad(lambda z: z.sum(dim=dims), [x], [x])

    if op in ("add", "mul"):
        a = randn(*shape).requires_grad_()
        b = randn(*shape).requires_grad_()
        fn = (lambda p, q: p + q) if op == "add" else (lambda p, q: p * q)
        return with_grad(fn, [a, b], [a, b])

    if op == "lerp":
        a = randn(*shape)
        b = randn(*shape)

        def run():
            with torch.no_grad():
                torch.lerp(a, b, 0.999, out=b)
        return {"forward": run}

    if op == "fourier":
        n, c, size, _ = shape
        rate, bw = 16.0, 2.0
        freqs = randn(c, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bw
        phases = torch.rand(c, generator=g) - 0.5
        t = randn(n, 4, scale=0.2)
        t[:, 0] += 1
        t.requires_grad_()
        weight = randn(c, c).requires_grad_()

        def fourier(tt, wt):
            tt = tt / tt[:, :2].norm(dim=1, keepdim=True)
            m_r = torch.eye(3).unsqueeze(0).repeat([n, 1, 1])
            m_r[:, 0, 0] = tt[:, 0]
            m_r[:, 0, 1] = -tt[:, 1]
            m_r[:, 1, 0] = tt[:, 1]
            m_r[:, 1, 1] = tt[:, 0]
            m_t = torch.eye(3).unsqueeze(0).repeat([n, 1, 1])
            m_t[:, 0, 2] = -tt[:, 2]
            m_t[:, 1, 2] = -tt[:, 3]
            tr = m_r @ m_t
            ph = phases.unsqueeze(0) + (freqs.unsqueeze(0) @ tr[:, :2, 2:]).squeeze(2)
            fr = freqs.unsqueeze(0) @ tr[:, :2, :2]
            amp = (1 - (fr.norm(dim=2) - bw) / (rate / 2 - bw)).clamp(0, 1)
            theta = torch.eye(2, 3)
            theta[0, 0] = 0.5 * size / rate
            theta[1, 1] = 0.5 * size / rate
            grids = F.affine_grid(theta.unsqueeze(0), [1, 1, size, size], align_corners=False)
            x = (grids.unsqueeze(3) @ fr.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
            x = x + ph.unsqueeze(1).unsqueeze(2)
            x = torch.sin(x * (2 * math.pi))
            x = x * amp.unsqueeze(1).unsqueeze(2)
            x = x @ (wt / math.sqrt(c)).t()
            return x.permute(0, 3, 1, 2)
        return with_grad(fourier, [t, weight], [t, weight])

    if op in ("grid_sample", "affine_grid"):
        n, c, h, w = shape
        theta = torch.zeros(n, 2, 3)
        for i in range(n):
            a, s = 0.1 * i, 1 + 0.02 * i
            theta[i, 0, 0] = s * math.cos(a)
            theta[i, 0, 1] = -s * math.sin(a)
            theta[i, 1, 0] = s * math.sin(a)
            theta[i, 1, 1] = s * math.cos(a)
            theta[i, 0, 2] = 0.01 * i
        if op == "affine_grid":
            def run():
                with torch.no_grad():
                    F.affine_grid(theta, [n, c, h, w], align_corners=False)
            return {"forward": run}
        grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
        x = randn(n, c, h, w).requires_grad_()
        return with_grad(lambda z: F.grid_sample(z, grid, mode="bilinear", padding_mode="zeros",
                                                 align_corners=False), [x], [x])

    if op == "color_matrix":
        n, c, h, w = shape
        m = randn(n, 4, 4, scale=0.3)
        x = randn(n, c, h, w).requires_grad_()

        def color(z):
            z = z.reshape([n, c, h * w])
            z = m[:, :3, :3] @ z + m[:, :3, 3:]
            return z.reshape([n, c, h, w])
        return with_grad(color, [x], [x])

    raise KeyError(op)


def time_call(fn, min_time, repetitions=7):
    """Seconds per call: the fastest of `repetitions` batches of calls, each batch >= min_time / repetitions
    (the minimum, because on a shared machine other processes only ever add time)."""
    fn()
    fn()
    iters = 1
    budget = min_time / repetitions
    while True:
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        dt = time.perf_counter() - t0
        if dt >= budget:
            break
        iters = max(iters * 2, int(iters * budget / max(dt, 1e-9) * 1.2))
    samples = [dt / iters]
    for _ in range(repetitions - 1):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter() - t0) / iters)
    return min(samples)


def run_torch(cases, threads, min_time):
    """cases: list of [op, shape, extra]; returns {key: {pass: seconds}}."""
    import torch
    torch.set_num_threads(threads)
    out = {}
    for op, shape, extra in cases:
        key = case_key(op, shape, extra)
        out[key] = {p: time_call(fn, min_time) for p, fn in torch_cases(op, shape, extra).items()}
    return out


def case_key(op, shape, extra):
    return op + "/" + "x".join(str(d) for d in shape) + (("/" + extra) if extra else "")


# ----------------------------------------------------------------------------------------------

def run_imbdef(binary, flt, min_time):
    # The fastest of 7 repetitions, as for torch below.
    cmd = [binary, "--benchmark_format=json", f"--benchmark_filter={flt}", f"--benchmark_min_time={min_time / 7}",
           "--benchmark_repetitions=7"]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times, threads = {}, 1
    for b in res["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        name = (b["run_name"] if "run_name" in b else b["name"]).replace("/real_time", "")
        m = NAME.fullmatch(name) or NAME_PLAIN.fullmatch(name)
        if not m:
            continue
        d = m.groupdict()
        shape = [int(v) for v in d["shape"].split("x")]
        key = (d["op"], tuple(shape), d.get("extra"))
        p = d.get("pass") or "forward"
        t = b["real_time"] * scale[b["time_unit"]]
        slot = times.setdefault(key, {})
        slot[p] = min(slot.get(p, t), t)
        threads = int(b.get("threads", threads))
    return times, threads, res.get("context", {})


def imbdef_passes(passes):
    """The imbdef times that correspond to the torch rows."""
    out = {}
    if "forward" in passes:
        out["forward"] = passes["forward"]
    if "forward" in passes and "backward" in passes:
        out["forward+backward"] = passes["forward"] + passes["backward"]
    if all(p in passes for p in ("forward", "backward", "forward_tangent", "backward_tangent")):
        out["second order"] = sum(passes[p] for p in ("forward", "backward", "forward_tangent", "backward_tangent"))
    return out


def merge_min(into, new):
    """into[key][pass] = the smaller of the two times."""
    for key, passes in new.items():
        slot = into.setdefault(key, {})
        for p, t in passes.items():
            slot[p] = min(slot.get(p, t), t)


def geomean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?", help="path to bench_misc")
    ap.add_argument("--filter", default=".", help="benchmark name regex")
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds per measurement")
    ap.add_argument("--allocators", default=",".join(ALLOCATORS), help="comma-separated subset of " + ",".join(ALLOCATORS))
    ap.add_argument("--torch-only", metavar="CASES_JSON", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for both sides (sets IMBDEF_NUM_THREADS for the binary); default: the pool's default")
    ap.add_argument("--runs", type=int, default=1,
                    help="repeat the whole measurement and keep each row's fastest time (for a busy machine)")
    ap.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.torch_only:  # child process: time torch under the inherited allocator environment
        cases = json.loads(args.torch_only)
        print(json.dumps(run_torch(cases, args.child_threads, args.min_time)))
        return

    if not args.binary:
        ap.error("the path to bench_misc is required")
    if args.threads > 0:
        os.environ["IMBDEF_NUM_THREADS"] = str(args.threads)
    times, threads, context = {}, 1, {}
    torch_by_alloc = {}
    for _ in range(max(1, args.runs)):
        run_times, threads, context = run_imbdef(args.binary, args.filter, args.min_time)
        merge_min(times, run_times)
        cases = [[op, list(shape), extra] for (op, shape, extra) in sorted(times)]
        for name in args.allocators.split(","):
            env = dict(os.environ)
            extra_env = ALLOCATORS[name]
            if "LD_PRELOAD" in extra_env and not os.path.exists(extra_env["LD_PRELOAD"]):
                print(f"# {name}: {extra_env['LD_PRELOAD']} not installed, skipped", file=sys.stderr)
                continue
            env.update(extra_env)
            cmd = [sys.executable, os.path.abspath(__file__), "--torch-only", json.dumps(cases), "--child-threads",
                   str(threads), "--min-time", str(args.min_time)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
            merge_min(torch_by_alloc.setdefault(name, {}), json.loads(out))

    rows = []
    for op, shape, extra in cases:
        key = case_key(op, shape, extra)
        ours = imbdef_passes(times[(op, tuple(shape), extra)])
        for p, t_ours in ours.items():
            rows.append((key, op, "x".join(map(str, shape)) + (f" {extra}" if extra else ""), p, t_ours))

    gm = {a: geomean([torch_by_alloc[a][k][p] for k, _, _, p, _ in rows if p in torch_by_alloc[a][k]])
          for a in torch_by_alloc}
    best = min(gm, key=gm.get)

    import torch
    print(f"# imbdef: {args.binary}, {threads} threads; torch {torch.__version__}, torch.set_num_threads({threads})")
    print(f"# host: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs at "
          f"{context.get('mhz_per_cpu', '?')} MHz")
    print(f"# torch allocator shown: {best} {ALLOCATORS[best] or '(default glibc malloc)'}")
    print()
    hdr = f"{'op':<14} {'shape':<22} {'pass':<17} {'imbdef ms':>10} {'torch ms':>10} {'ratio':>7}"
    print(hdr)
    print("-" * len(hdr))
    ratios = []
    for key, op, shape, p, t_ours in rows:
        t_torch = torch_by_alloc[best][key].get(p)
        if t_torch is None:
            continue
        ratios.append(t_torch / t_ours)
        print(f"{op:<14} {shape:<22} {p:<17} {t_ours * 1e3:>10.4f} {t_torch * 1e3:>10.4f} {t_torch / t_ours:>7.2f}")
    print()
    print(f"geometric mean ratio ({best}): {geomean(ratios):.2f}")
    print("torch geometric-mean time by allocator (relative to the best):")
    for a in torch_by_alloc:
        print(f"  {a:<12} {gm[a] / gm[best]:.3f}")


if __name__ == "__main__":
    main()
