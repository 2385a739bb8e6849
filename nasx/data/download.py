"""The nasx cache folder and the one download nasx makes: the CIFAR python archives.

:func:`download_cifar` fetches an archive from its official address into the cache, checks its
MD5 checksum before keeping it (a mismatch leaves nothing behind), and extracts it with tarfile's
``data`` filter (no absolute paths, links out of the folder or device files).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from ..errors import DataError

__all__ = ["CIFAR", "cache_dir", "download_cifar", "file_digest"]

#: the downloadable datasets: address, MD5 of the archive, folder it extracts to, archive name
CIFAR: dict[str, dict[str, str]] = {
    "cifar10": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
        "folder": "cifar-10-batches-py",
        "archive": "cifar-10-python.tar.gz",
    },
    "cifar100": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
        "folder": "cifar-100-python",
        "archive": "cifar-100-python.tar.gz",
    },
}


def cache_dir() -> Path:
    """The nasx cache folder: ``$NASX_CACHE_DIR``, else ``$XDG_CACHE_HOME/nasx``, else
    ``~/.cache/nasx``."""
    env = os.environ.get("NASX_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nasx"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (read in 1 MiB blocks) with a :mod:`hashlib` algorithm."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_cifar(name: str, root: Path | None = None, *, timeout: float = 60.0) -> Path:
    """Download a CIFAR python archive into ``root`` (default: the cache), verify its MD5
    checksum, extract it, and return the extracted folder."""
    if name not in CIFAR:
        raise DataError(f"unknown dataset {name!r}; downloadable: {sorted(CIFAR)}")
    info = CIFAR[name]
    root = Path(root) if root else cache_dir() / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / info["folder"]
    if folder.is_dir() and (folder / ".complete").exists():
        return folder
    archive = root / info["archive"]
    if not archive.exists() or file_digest(archive, "md5") != info["md5"]:
        tmp = archive.with_suffix(".part")
        try:
            with urllib.request.urlopen(info["url"], timeout=timeout) as r, open(tmp, "wb") as f:
                while True:
                    chunk = r.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"cannot download {name} from {info['url']} ({exc}). Offline? Put the "
                f"'{info['folder']}' folder or '{info['archive']}' into {root}, or pass "
                "--data with a .npz file, a CIFAR python folder or an image folder"
            ) from exc
        got = file_digest(tmp, "md5")
        if got != info["md5"]:
            tmp.unlink(missing_ok=True)
            raise DataError(f"{name}: checksum mismatch (md5 {got}, expected {info['md5']})")
        tmp.replace(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(root, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot extract {archive}: {exc}") from exc
    (folder / ".complete").touch()
    return folder
