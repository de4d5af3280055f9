#!/usr/bin/env python3
"""Does generated data help a detector? Real only against real + generated against real + copy-paste.

    bench/downstream/yolo_downstream.py --reals R --add generated=G --add copy-paste=P --out OUT \
        [--seeds 0,1,2] [--iterations 1500] [--batch 16] [--imgsz 64] [--model yolov8n.yaml]

R is `imbdef export-reals --protocol one-third` (split train: the training third of each class, the
images stage 2 learned from; split test: the held-out rest), G an `imbdef generate` dataset of a
stage-2 checkpoint trained on that same third, P `imbdef copy-paste --protocol one-third` on the
same backgrounds. Every detector:

- is Ultralytics YOLO built from its model yaml, no pretrained weights, seeded and deterministic;
- trains for the same number of iterations (batches): each condition's epochs are
  ceil(iterations / batches per epoch), and its warmup is the same number of iterations;
- with --train-images N, also sees the same number of training images: each condition's training
  list holds exactly N paths, the real images first (each once), then the added dataset's images
  in name order until N (real only: the real images repeated in turn);
- never sees the test split while training: Ultralytics' own validation reads the real training
  images, and the weights scored are the last ones (no selection by any score);
- is scored once, on the real test split, with Ultralytics' mAP50, mAP50-95, precision and recall,
  overall and per class.

The settings below (AdamW, no mosaic, vertical flips) are fixed before any result is seen: at 64 px a
mosaic halves defects that are a few pixels wide, and tiles have no up or down. Results go to
OUT/results.json (every run) and OUT/results.md (mean and standard deviation over seeds), with the
machine, the versions and this command line.
"""

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def fail(message):
    sys.exit(f"yolo_downstream.py: {message}")


def read_dataset(root, need_test=False):
    """The imbdef dataset at root: its manifest and the image folders of its splits."""
    root = Path(root).resolve()
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        fail(f"{root}: no manifest.json (expected a dataset written by imbdef generate, copy-paste or export-reals)")
    manifest = json.loads(manifest_path.read_text())
    if not manifest.get("complete", False):
        fail(f"{manifest_path}: the dataset is incomplete (its writer did not finish)")
    train = root / "images" / "train"
    if not train.is_dir() or not any(train.iterdir()):
        fail(f"{root}: no training images in images/train")
    if need_test and not (root / "images" / "test").is_dir():
        fail(f"{root}: no images/test (export the reals with --protocol one-third)")
    return root, manifest


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def image_paths(folder):
    return sorted(str(f) for f in Path(folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)


def count_images(folder):
    return len(image_paths(folder))


def fixed_size_list(path, train_dirs, n):
    """Writes a training list of exactly n image paths: the first folder's images (the reals), then
    the others' in name order, both repeated in turn if needed; returns the number of distinct images."""
    reals = image_paths(train_dirs[0])
    added = [p for d in train_dirs[1:] for p in image_paths(d)]
    if n < len(reals):
        fail(f"--train-images {n}: fewer than the {len(reals)} real training images")
    pool = added if added else reals
    chosen = reals + [pool[i % len(pool)] for i in range(n - len(reals))]
    path.write_text("\n".join(chosen) + "\n")
    return len(set(chosen))


def write_yaml(path, root, train_dirs, val_dir, test_dir, names):
    q = lambda s: json.dumps(str(s))  # JSON strings are valid YAML double-quoted strings
    lines = [f"path: {q(root)}", "train:"] + [f"  - {q(d)}" for d in train_dirs]  # folders, or one list file
    lines += [f"val: {q(val_dir)}", f"test: {q(test_dir)}", f"nc: {len(names)}", "names:"]
    lines += [f"  {i}: {q(n)}" for i, n in enumerate(names)]
    path.write_text("\n".join(lines) + "\n")


def machine():
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info["cpu"] = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), "?")
    except (OSError, subprocess.CalledProcessError):
        info["cpu"] = "?"
    import torch
    import ultralytics
    info["torch"] = torch.__version__
    info["ultralytics"] = ultralytics.__version__
    info["torch_threads"] = torch.get_num_threads()
    return info


def train_and_score(condition, yaml_path, n_train, seed, args, run_dir):
    from ultralytics import YOLO

    batches_per_epoch = math.ceil(n_train / args.batch)
    epochs = max(2, math.ceil(args.iterations / batches_per_epoch))
    warmup_epochs = min(args.warmup_iterations / batches_per_epoch, epochs - 1)
    model = YOLO(args.model)  # a yaml: random initialisation, no pretrained weights
    started = time.time()
    model.train(data=str(yaml_path), epochs=epochs, batch=args.batch, imgsz=args.imgsz, seed=seed, deterministic=True,
                device="cpu", workers=args.workers, project=str(run_dir.parent), name=run_dir.name, exist_ok=True,
                pretrained=False, optimizer="AdamW", lr0=args.lr0, cos_lr=False, warmup_epochs=warmup_epochs,
                mosaic=0.0, close_mosaic=0, flipud=0.5, fliplr=0.5, val=False, plots=False, amp=False, verbose=False,
                cache=False)
    train_seconds = time.time() - started
    last = run_dir / "weights" / "last.pt"
    if not last.is_file():
        fail(f"{condition} seed {seed}: Ultralytics wrote no {last}")
    scored = YOLO(str(last)).val(data=str(yaml_path), split="test", imgsz=args.imgsz, batch=args.batch, device="cpu",
                                 workers=args.workers, plots=False, verbose=False, project=str(run_dir), name="test",
                                 exist_ok=True)
    names = scored.names
    per_class = {names[int(c)]: float(scored.box.ap50[i]) for i, c in enumerate(scored.box.ap_class_index)}
    return {
        "condition": condition,
        "seed": seed,
        "train_images": n_train,
        "epochs": epochs,
        "iterations": epochs * batches_per_epoch,
        "train_seconds": round(train_seconds, 1),
        "map50": float(scored.box.map50),
        "map50_95": float(scored.box.map),
        "precision": float(scored.box.mp),
        "recall": float(scored.box.mr),
        "ap50_per_class": per_class,
    }


def summarise(runs, conditions, class_names):
    def stat(values):
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{mean:.3f} ± {sd:.3f}"

    head = ["condition", "train images", "iterations", "mAP50", "mAP50-95", "precision", "recall"] + [f"AP50 {n}" for n in class_names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for condition in conditions:
        rs = [r for r in runs if r["condition"] == condition]
        if not rs:
            continue
        row = [condition, str(rs[0]["train_images"]), str(rs[0]["iterations"])]
        row += [stat([r[k] for r in rs]) for k in ("map50", "map50_95", "precision", "recall")]
        row += [stat([r["ap50_per_class"].get(n, 0.0) for r in rs]) for n in class_names]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reals", required=True, help="imbdef export-reals --protocol one-third: train and test splits")
    p.add_argument("--add", action="append", default=[], metavar="NAME=DATASET",
                   help="a condition: the real training images plus DATASET's (imbdef generate or copy-paste); repeatable")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--iterations", type=int, default=1500, help="training batches per detector, the same for every condition")
    p.add_argument("--warmup-iterations", type=int, default=100)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--imgsz", type=int, default=64, help="the datasets' resolution")
    p.add_argument("--model", default="yolov8n.yaml", help="an Ultralytics model yaml (never a .pt: no pretrained weights)")
    p.add_argument("--lr0", type=float, default=0.001)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--train-images", type=int, default=0,
                   help="give every condition exactly this many training images (0: each its own count)")
    args = p.parse_args()
    if not args.model.endswith(".yaml"):
        fail(f"--model {args.model}: a model yaml, so that nothing starts from pretrained weights")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        fail("--seeds: at least one seed")
    if args.iterations < 1 or args.batch < 1 or args.imgsz < 32:
        fail("--iterations and --batch must be at least 1, --imgsz at least 32")

    reals_root, reals = read_dataset(args.reals, need_test=True)
    class_names = list(reals["classes"])
    conditions = {"real": [reals_root / "images" / "train"]}
    for spec in args.add:
        if "=" not in spec:
            fail(f"--add {spec}: expected NAME=DATASET")
        name, path = spec.split("=", 1)
        root, manifest = read_dataset(path)
        if list(manifest["classes"]) != class_names:
            fail(f"--add {spec}: classes {manifest['classes']} differ from the reals' {class_names}")
        if name in conditions:
            fail(f"--add {spec}: the condition '{name}' is given twice")
        conditions["real+" + name] = [reals_root / "images" / "train", root / "images" / "train"]

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    previous = json.loads(results_path.read_text())["runs"] if results_path.is_file() else []
    runs = []
    for condition, train_dirs in conditions.items():
        yaml_path = out / f"{condition}.yaml"
        if args.train_images > 0:
            list_path = out / f"{condition}.train.txt"
            distinct = fixed_size_list(list_path, train_dirs, args.train_images)
            train_entries, n_train = [list_path], args.train_images
        else:
            train_entries, n_train = train_dirs, sum(count_images(d) for d in train_dirs)
            distinct = n_train
        write_yaml(yaml_path, reals_root, train_entries, reals_root / "images" / "train", reals_root / "images" / "test", class_names)
        for seed in seeds:
            done = [r for r in previous if r["condition"] == condition and r["seed"] == seed and r["train_images"] == n_train
                    and r.get("distinct_images", r["train_images"]) == distinct]
            if done:  # a rerun after an interruption keeps what finished
                runs.append(done[0])
                continue
            run_dir = out / "runs" / f"{condition}-seed{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            print(f"== {condition}, seed {seed}: {n_train} training images", flush=True)
            runs.append(train_and_score(condition, yaml_path, n_train, seed, args, run_dir))
            runs[-1]["distinct_images"] = distinct
            print(json.dumps(runs[-1]), flush=True)
            results = {"command": " ".join(sys.argv), "machine": machine(), "classes": class_names, "runs": runs}
            tmp = results_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            os.replace(tmp, results_path)

    results = {"command": " ".join(sys.argv), "machine": machine(), "classes": class_names, "runs": runs}
    results_path.write_text(json.dumps(results, indent=1))
    m = results["machine"]
    table = summarise(runs, list(conditions), class_names)
    test_images = count_images(reals_root / "images" / "test")
    (out / "results.md").write_text(
        f"Detector: {args.model} from its yaml (no pretrained weights), imgsz {args.imgsz}, batch {args.batch}, "
        f"{args.iterations} iterations per run, seeds {args.seeds}; scored on {test_images} held-out real images.\n"
        f"Machine: {m['cpu']}; torch {m['torch']}, ultralytics {m['ultralytics']}.\nCommand: {results['command']}\n\n"
        f"{table}\n")
    print(table)


if __name__ == "__main__":
    main()
