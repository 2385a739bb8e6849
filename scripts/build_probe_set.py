"""Build the probe set embedded in the package: ``nasx/_probe/cifar10_probe.npz``.

Takes ``--per-class`` images of every class (default 50, so 500 images) from the 5,000-image
CIFAR-10 training probe ``cifar10/probe_train.npz`` of the shared data folder (500 JPEG-decoded
training images per class, see that folder's README), chosen per class without replacement with
``numpy.random.default_rng(--seed)`` (one generator, classes in label order) and kept in source
order, and writes them as an ``.npz`` whose bytes do not depend on when it was written (fixed zip
timestamps, fixed array order), so the same inputs give the same file and the same sha256 with
the same zlib. Prints the sha256 to paste into ``nasx/data/embedded.py`` (``EMBEDDED_SHA256``) and
``nasx/_probe/README.md``.

Run (from the repository root):
    python scripts/build_probe_set.py --src /work/shared/data/cifar10/probe_train.npz \
        --out nasx/_probe/cifar10_probe.npz
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def select(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Row indices: ``per_class`` per label 0..9, drawn with one seeded generator."""
    rng = np.random.default_rng(seed)
    out = []
    for c in range(len(CLASSES)):
        rows = np.flatnonzero(y == c)
        if len(rows) < per_class:
            raise SystemExit(f"class {c} has {len(rows)} images; {per_class} asked")
        out.append(np.sort(rng.choice(rows, size=per_class, replace=False)))
    return np.concatenate(out)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``np.load``-able .npz with fixed member timestamps (reproducible bytes)."""
    tmp = path.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    os.replace(tmp, path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_src = Path(os.environ.get("NASX_SHARED_DATA", "../shared/data")) / "cifar10" / \
        "probe_train.npz"
    p.add_argument("--src", default=str(default_src), help="probe_train.npz [%(default)s]")
    p.add_argument("--out", default="nasx/_probe/cifar10_probe.npz")
    p.add_argument("--per-class", type=int, default=50, help="images per class [50]")
    p.add_argument("--seed", type=int, default=0, help="seed of the selection [0]")
    args = p.parse_args()

    src = Path(args.src)
    if not src.is_file():
        print(f"{src} not found; pass --src or set NASX_SHARED_DATA", file=sys.stderr)
        return 2
    with np.load(src, allow_pickle=False) as f:
        x, y, classes, names = f["x"], f["y"], f["classes"], f["src"]
    if tuple(str(c) for c in classes) != CLASSES:
        print(f"{src}: unexpected class list {list(classes)}", file=sys.stderr)
        return 2
    idx = select(y, args.per_class, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(out, {
        "x": x[idx].astype(np.uint8),
        "y": y[idx].astype(np.int64),
        "classes": np.asarray(CLASSES),
        "src": np.asarray([str(s) for s in names[idx]]),
    })
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    src_digest = hashlib.sha256(src.read_bytes()).hexdigest()
    print(f"wrote {out}: {len(idx)} images ({args.per_class} per class), "
          f"{out.stat().st_size} bytes")
    print(f"source {src} sha256 {src_digest}")
    print(f"sha256 {digest}")
    print("rerun: python scripts/build_probe_set.py --src " + str(src) + " --out " + str(out)
          + f" --per-class {args.per_class} --seed {args.seed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
