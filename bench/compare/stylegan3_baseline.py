#!/usr/bin/env python3
"""Times the official StyleGAN3 networks on the CPU: what a user would otherwise run.

The official code is not part of imbdef: pass the location of a checkout of NVlabs/stylegan3 with
--sg3. Nothing of it is copied here; this script only drives its classes (Generator, the StyleGAN2
Discriminator, AugmentPipe, StyleGAN2Loss) the way its training loop does, on the CPU through its
reference ops. One shim makes the code import on current PyTorch: `pkg_resources` (gone from
recent setuptools) is replaced by an object whose parse_version compares release numbers.

  --what generate    mapping + synthesis, no gradients                   (images/s)
  --what g-step      Gmain: G forward + D forward + backward to G, Adam  (images/s)
  --what d-step      Dmain: G forward, D on fakes and reals, backward, Adam
  --what train-step  one training iteration of all phases averaged over the lazy-R1 interval
                     (Gmain and Dmain every iteration, Dreg every 16), ADA 'bgc' on, G EMA

Prints one JSON line: preset, batch, threads, what, images_per_second, peak_rss_mb, allocator,
torch version. Use the same --threads as the imbdef side.
"""
import argparse
import json
import os
import resource
import sys
import time
import types

PRESETS = {  # resolution, z = w, cbase, cmax, synthesis layers (imbdef's METHOD.md table)
    "tiny": (32, 64, 1024, 32, 4),
    "cpu64": (64, 256, 4096, 128, 6),
    "lite128": (128, 256, 8192, 256, 8),
    "paper256": (256, 512, 16384, 512, 10),
}
R1_GAMMA = {"tiny": 0.03, "cpu64": 0.125, "lite128": 0.5, "paper256": 2.0}  # gamma ~ R^2, 0.5 at 128


def parse_version(text):
    """'2.15.0+cu132' -> (2, 15, 0); '1.11.0a' -> (1, 11, 0): enough for the code's version tests."""
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def import_official(sg3):
    sys.modules.setdefault("pkg_resources", types.SimpleNamespace(parse_version=parse_version))
    sys.path.insert(0, os.path.abspath(sg3))
    from training import networks_stylegan3, networks_stylegan2, augment, loss  # noqa: E402
    return networks_stylegan3, networks_stylegan2, augment, loss


def allocator():
    with open("/proc/self/maps") as f:
        maps = f.read()
    for name in ("jemalloc", "tcmalloc"):
        if name in maps:
            return name
    tuned = [k for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_") if k in os.environ]
    return "glibc" + (" (" + ", ".join(f"{k}={os.environ[k]}" for k in tuned) + ")" if tuned else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sg3", required=True, help="path to a checkout of NVlabs/stylegan3")
    ap.add_argument("--preset", default="cpu64", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--what", default="generate", choices=["generate", "g-step", "d-step", "train-step"])
    ap.add_argument("--channels", type=int, default=3, help="image channels (1 grey, 3 RGB)")
    ap.add_argument("--iterations", type=int, default=0, help="timed iterations (default: by mode)")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nets3, nets2, augment, loss_mod = import_official(args.sg3)
    res, zdim, cbase, cmax, layers = PRESETS[args.preset]
    common = dict(c_dim=0, img_resolution=res, img_channels=args.channels)
    G = nets3.Generator(z_dim=zdim, w_dim=zdim, mapping_kwargs=dict(num_layers=2), channel_base=cbase,
                        channel_max=cmax, num_layers=layers, conv_kernel=3, use_radial_filters=False,
                        magnitude_ema_beta=0.5 ** (args.batch / 20000), **common).train().requires_grad_(False)
    D = nets2.Discriminator(channel_base=cbase, channel_max=cmax, epilogue_kwargs=dict(mbstd_group_size=4),
                            **common).train().requires_grad_(False)
    z = lambda: torch.randn(args.batch, zdim)  # noqa: E731
    reals = torch.rand(args.batch, args.channels, res, res) * 2 - 1
    empty_c = torch.zeros(args.batch, 0)

    if args.what == "generate":
        G.eval()
        iters = args.iterations or 10

        def step(_):
            with torch.no_grad():
                G(z(), None, truncation_psi=1, noise_mode="const")
    else:
        aug = augment.AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1,
                                  contrast=1, lumaflip=1, hue=1, saturation=1).train().requires_grad_(False)
        aug.p.copy_(torch.as_tensor(0.0))
        loss = loss_mod.StyleGAN2Loss(device=torch.device("cpu"), G=G, D=D, augment_pipe=aug,
                                      r1_gamma=R1_GAMMA[args.preset])
        ratio = 16 / 17
        G_opt = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
        D_opt = torch.optim.Adam(D.parameters(), lr=0.002 * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)
        G_ema = None
        if args.what == "train-step":
            import copy
            G_ema = copy.deepcopy(G).eval()
        phases = {"g-step": [("Gmain", G, G_opt, 1)], "d-step": [("Dmain", D, D_opt, 1)],
                  "train-step": [("Gmain", G, G_opt, 1), ("Dmain", D, D_opt, 1), ("Dreg", D, D_opt, 16)]}[args.what]
        iters = args.iterations or (16 if args.what == "train-step" else 4)

        def step(i):
            for name, module, opt, interval in phases:
                if i % interval:
                    continue
                opt.zero_grad(set_to_none=True)
                module.requires_grad_(True)
                loss.accumulate_gradients(phase=name, real_img=reals, real_c=empty_c, gen_z=z(), gen_c=empty_c,
                                          gain=interval, cur_nimg=i * args.batch)
                module.requires_grad_(False)
                for p in module.parameters():
                    if p.grad is not None:
                        torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
                opt.step()
            if G_ema is not None:
                beta = 0.5 ** (args.batch / max(min(args.batch * 10 / 32 * 1000, i * args.batch * 0.05), 1e-8))
                with torch.no_grad():
                    for pe, p in zip(G_ema.parameters(), G.parameters()):
                        pe.copy_(p.lerp(pe, beta))
                    for be, b in zip(G_ema.buffers(), G.buffers()):
                        be.copy_(b)

    step(0)  # warm-up: first-touch allocations, filter setup
    start = time.perf_counter()
    for i in range(iters):
        step(i)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "preset": args.preset, "batch": args.batch, "threads": args.threads, "what": args.what,
        "images_per_second": args.batch * iters / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "allocator": allocator(), "torch": torch.__version__,
        "G_params": sum(p.numel() for p in G.parameters()), "D_params": sum(p.numel() for p in D.parameters()),
    }))


if __name__ == "__main__":
    main()
