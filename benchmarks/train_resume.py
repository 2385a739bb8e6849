"""Resume at a real scale: ``nasx train`` killed (SIGKILL) mid-epoch, run again, against a run never
interrupted.

The network is a full NAS-Bench-201 network (C=16, N=5, 32x32, 10 classes) of ``--arch``,
trained with the ``nb201`` protocol (SGD Nesterov, lr 0.1 cosine per step, batch 256, crop and
flip) for ``--epochs`` epochs on the real CIFAR-10 images of ``cifar10/probe_train.npz`` (5,000
images; held out: the CLI's seeded 10% split, stated in the result), on CPU with ``--threads``
torch threads, seed 0. Three processes, one after the other:

1. ``full``: the command, never interrupted;
2. ``cut``: the same command in another checkpoint folder, killed with SIGKILL half an epoch
   (as long as the first epoch took in ``full``) after its epoch-``--kill-after`` checkpoint
   appeared: no clean-up of any kind runs;
3. the ``cut`` command again, which resumes from its last checkpoint.

Reported: whether every weight and buffer of the final checkpoints is bitwise equal, the largest
absolute difference, the per-epoch histories (loss, accuracy; wall seconds left out of the
comparison), the held-out accuracy of each run, the epoch the kill left in the checkpoint, and
the wall seconds per epoch.

Example:
    python benchmarks/train_resume.py --out benchmarks/results/train_resume_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, shared_file, write_results  # noqa: E402  (puts this checkout first)

ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
        "|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=ARCH)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--kill-after", type=int, default=1,
                    help="kill half an epoch after this epoch's checkpoint appears")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import torch

    data = str(shared_file("cifar10", "probe_train.npz"))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def cmd(sub: str) -> list[str]:
            return [sys.executable, "-m", "nasx", "train", "--space", "nasbench201",
                    "--protocol", "nb201", "--set", f"epochs={args.epochs}", "--data", data,
                    "--device", "cpu", "--threads", str(args.threads), "--seed", "0",
                    "--no-store", "--json", "--quiet", "--checkpoint-dir", str(work / sub),
                    args.arch]

        t0 = time.perf_counter()
        full = subprocess.run(cmd("full"), env=env, check=True, capture_output=True, text=True)
        full_seconds = time.perf_counter() - t0
        full_rec = json.loads(full.stdout)
        epoch_seconds = [h["seconds"] for h in full_rec["history"]]
        proc = subprocess.Popen(cmd("cut"), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        ckpt = work / "cut" / "checkpoint.pt"
        while proc.poll() is None:
            if ckpt.exists():
                try:
                    if torch.load(ckpt, weights_only=True)["epoch"] >= args.kill_after:
                        break
                except Exception:  # noqa: BLE001 - being written; look again
                    pass
            time.sleep(0.2)
        time.sleep(epoch_seconds[0] / 2)
        killed_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = torch.load(ckpt, weights_only=True)["epoch"]
        t1 = time.perf_counter()
        cut = subprocess.run(cmd("cut"), env=env, check=True, capture_output=True, text=True)
        resume_seconds = time.perf_counter() - t1
        cut_rec = json.loads(cut.stdout)
        a = torch.load(work / "full" / "checkpoint.pt", weights_only=True)["model"]
        b = torch.load(ckpt, weights_only=True)["model"]
        equal = all(torch.equal(a[k], b[k]) for k in a) and set(a) == set(b)
        diff = max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0
                   for k in a)

    def strip(rec: dict) -> list[dict]:
        return [{k: v for k, v in h.items() if k != "seconds"} for h in rec["history"]]

    doc = {
        "benchmark": "nasx train killed with SIGKILL mid-epoch and resumed, against an "
                     "uninterrupted run",
        "arch": args.arch, "space": "nasbench201 (C=16, N=5, 32x32)", "protocol": "nb201",
        "epochs": args.epochs, "data": "cifar10/probe_train.npz (5,000 CIFAR-10 images)",
        "holdout": full_rec.get("data"), "threads": args.threads, "device": "cpu",
        "killed_while_running": killed_running,
        "checkpoint_epoch_at_kill": left, "resumed_from_epoch": cut_rec.get("resumed_from"),
        "killed_seconds_after_checkpoint": round(epoch_seconds[0] / 2, 1),
        "weights_bitwise_equal": equal, "max_abs_weight_diff": diff,
        "histories_equal": strip(full_rec) == strip(cut_rec),
        "accuracy_uninterrupted": full_rec["accuracy"], "accuracy_resumed": cut_rec["accuracy"],
        "epoch_seconds": epoch_seconds, "uninterrupted_seconds": round(full_seconds, 1),
        "resume_seconds": round(resume_seconds, 1),
        "history_uninterrupted": full_rec["history"], "history_resumed": cut_rec["history"],
    }
    write_results(args.out, doc)
    print(json.dumps({k: doc[k] for k in ("checkpoint_epoch_at_kill", "weights_bitwise_equal",
                                          "histories_equal", "accuracy_uninterrupted",
                                          "accuracy_resumed", "epoch_seconds")}))
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
