"""From an architecture to a network a user can run: :func:`build` and :func:`export`.

* :func:`build` (``nasx.build``): the ``nn.Module`` of an architecture, freshly initialised and
  returned **as built, in training mode** (what ``nn.Module`` construction gives and what
  training expects); call ``.eval()`` before measuring or running inference with it.
* :func:`export` (``nasx.export``, ``nasx export``): the network captured with
  :func:`torch.export.export` in **eval mode** (BatchNorm uses its running statistics) and
  written with :func:`torch.export.save` (``.pt2``). The file is a graph of ATen operators
  with the weights; it loads with plain torch, without nasx::

      net = torch.export.load("net.pt2").module()
      logits = net(images)                       # images: (B, C, H, W) float32

  The batch dimension is dynamic by default (any batch size from 1 on; ``dynamic_batch=False``
  fixes it to ``batch_size``); height, width and channels are the space's ``input_shape``. The
  file also holds ``nasx.json`` (``torch.export.load(path, extra_files={"nasx.json": ""})``):
  space, options, architecture, classes, seed and input shape.
  ``format="onnx"`` writes ONNX instead (through the same exported program, with
  ``torch.onnx.export(..., dynamo=True)``); it needs the ``onnx`` and ``onnxscript`` packages
  (``pip install 'nasx[onnx]'``).
* :func:`export_result`: the best network of a :class:`~nasx.records.SearchResult` (what
  ``nasx search --export PATH`` writes).

Every built-in space exports as is (no fallback is needed: the cell networks have no
data-dependent control flow); a network that ``torch.export`` cannot capture raises
:class:`~nasx.errors.ExportError` with the exporter's reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .arch import Arch
from .errors import ConfigError, ExportError
from .registry import make_space

if TYPE_CHECKING:
    from torch import nn

    from .records import SearchResult

__all__ = ["EXPORT_FORMATS", "Exported", "build", "export", "export_result", "onnx_available",
           "resolve"]

#: the formats :func:`export` writes
EXPORT_FORMATS = ("pt2", "onnx")


def resolve(space: str | Any, arch: str | Arch, space_opts: dict[str, Any] | None = None
            ) -> tuple[Any, Arch]:
    """The space object and the parsed architecture (``arch`` text in the space's notation,
    or an :class:`~nasx.arch.Arch` of that space)."""
    space_obj = make_space(space, **dict(space_opts or {}))
    return space_obj, space_obj.check(arch) if isinstance(arch, Arch) else space_obj.parse(
        str(arch))


def build(space: str | Any, arch: str | Arch, num_classes: int = 10, *,
          seed: int | None = None, **space_opts: Any) -> nn.Module:
    """The network of ``arch`` in ``space``, freshly initialised, in training mode.

    Args:
        space: a registered space name (``nasbench201``, ``darts``, ...) or a space object.
        arch: the architecture in the space's notation (``str(arch)`` of a search result's
            ``best``), or an :class:`~nasx.arch.Arch`.
        num_classes: outputs of the classifier.
        seed: when given, the initialisation is seeded with it (the caller's global torch RNG
            state is left as it was); None draws from torch's global RNG, as ``nn.Module``
            construction does.
        **space_opts: the space's options (``C=36, layers=20`` for DARTS's evaluation network).

    Returns:
        The ``nn.Module`` (training mode, on the CPU).

    Raises:
        nasx.errors.InvalidArchError: ``arch`` is not an architecture of the space.
        nasx.errors.ConfigError: unknown space option, or options given with a space object.

    Example:
        >>> import nasx
        >>> net = nasx.build("nasbench201", "|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
        ...                  "|avg_pool_3x3~0|none~1|nor_conv_1x1~2|", C=8, N=1, input_size=8)
        >>> net.training, type(net).__name__
        (True, 'NB201Network')
    """
    space_obj, parsed = resolve(space, arch, space_opts)
    if seed is None:
        return space_obj.build(parsed, int(num_classes))
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return space_obj.build(parsed, int(num_classes))


@dataclass(frozen=True)
class Exported:
    """What :func:`export` wrote.

    Attributes:
        path: the file written.
        format: ``pt2`` or ``onnx``.
        input_shape: the input of the exported network, ``(B, C, H, W)``; ``B`` is the traced
            batch size (any size from 1 on loads and runs when ``dynamic_batch``).
        dynamic_batch: whether the batch dimension is dynamic.
        metadata: space, space options, architecture, classes and seed (also stored in a
            ``.pt2`` file as ``nasx.json``).
    """

    path: str
    format: str
    input_shape: tuple[int, ...]
    dynamic_batch: bool
    metadata: dict[str, Any]


def onnx_available() -> bool:
    """True when the ONNX exporter's packages (``onnx`` and ``onnxscript``) are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript"))


def export(space: str | Any, arch: str | Arch, path: str | os.PathLike[str], *,
           num_classes: int = 10, format: str | None = None, batch_size: int = 1,
           dynamic_batch: bool = True, seed: int = 0,
           space_opts: dict[str, Any] | None = None) -> Exported:
    """Write the network of ``arch`` (eval mode, weights initialised from ``seed``) to ``path``.

    Args:
        space: a registered space name or a space object.
        arch: the architecture (text in the space's notation, or an Arch).
        path: the output file; ``.onnx`` selects ONNX when ``format`` is not given.
        num_classes: outputs of the classifier.
        format: ``pt2`` (``torch.export``; default) or ``onnx``.
        batch_size: batch size of the example input the network is traced with (with
            ``dynamic_batch=False``, the only batch size the file accepts).
        dynamic_batch: export the batch dimension as dynamic (any size >= 1).
        seed: initialisation seed of the weights (the same seed gives the same file's weights).
        space_opts: the space's options (``{"C": 36, "layers": 20}``).

    Returns:
        An :class:`Exported` record.

    Raises:
        ConfigError: a bad format or batch size, ONNX asked for without its packages, or an
            output path whose folder does not exist.
        ExportError: ``torch.export`` (or the ONNX exporter) cannot capture the network.

    Example:
        >>> import nasx  # doctest: +SKIP
        >>> nasx.export("darts", DARTS_V2, "darts.pt2", space_opts={"C": 36, "layers": 20})
        ... # doctest: +SKIP
        >>> net = torch.export.load("darts.pt2").module()  # doctest: +SKIP
    """
    import torch

    path = os.fspath(path)
    fmt = (format or ("onnx" if path.lower().endswith(".onnx") else "pt2")).strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {format!r}; use one of "
                          f"{', '.join(EXPORT_FORMATS)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"export batch size must be a positive integer; got {batch_size!r}")
    if fmt == "onnx" and not onnx_available():
        raise ConfigError("ONNX export needs the onnx and onnxscript packages, which are not "
                          "installed: pip install 'nasx[onnx]' (or export the default .pt2)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"cannot write {path}: folder {folder} does not exist")
    space_obj, parsed = resolve(space, arch, space_opts)
    model = build(space_obj, parsed, num_classes, seed=seed).eval()
    shape = tuple(int(v) for v in space_obj.input_shape)
    # a dynamic dimension cannot be traced at size 1 (torch specialises sizes 0 and 1)
    trace_b = max(batch_size, 2) if dynamic_batch else batch_size
    x = torch.randn((trace_b, *shape), generator=torch.Generator().manual_seed(0))
    dims = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    meta = {"space": space_obj.name, "space_opts": dict(space_obj.opts), "arch": str(parsed),
            "num_classes": int(num_classes), "seed": int(seed), "input_shape": list(shape),
            "dynamic_batch": bool(dynamic_batch), "mode": "eval"}
    try:
        with torch.no_grad():
            program = torch.export.export(model, (x,), dynamic_shapes=dims)
    except Exception as exc:  # the exporter raises many kinds; the reason is what matters
        raise ExportError(f"torch.export cannot capture the {space_obj.name} network of "
                          f"{str(parsed)[:120]}: {type(exc).__name__}: {exc}") from exc
    if fmt == "pt2":
        torch.export.save(program, path, extra_files={"nasx.json": json.dumps(meta)})
    else:
        try:
            torch.onnx.export(program, (x,), path, dynamo=True, external_data=False,
                              input_names=["images"], output_names=["logits"])
        except Exception as exc:  # noqa: BLE001 - the ONNX exporter's reasons vary
            raise ExportError(f"the ONNX exporter cannot write the {space_obj.name} network: "
                              f"{type(exc).__name__}: {exc}") from exc
    return Exported(path, fmt, (trace_b, *shape), bool(dynamic_batch), meta)


def export_result(result: SearchResult, path: str | os.PathLike[str], *,
                  num_classes: int | None = None, **options: Any) -> Exported:
    """Write the best network of a search (``result.best``, in the result's space with the
    space options recorded in ``result.settings``) with :func:`export`.

    ``num_classes`` defaults to the classes of the search's probe data (read from
    ``result.settings["data"]``: 10 for CIFAR-10 and the shipped probe set, 100 for CIFAR-100,
    N for ``shape:N``); the other keywords are :func:`export`'s (``format``, ``batch_size``,
    ``dynamic_batch``, ``seed``).

    Raises:
        ConfigError: the search has no best architecture (nothing feasible was scored), or the
            number of classes cannot be told from the result (pass ``num_classes``).
    """
    if result.best is None:
        raise ConfigError("the search found no architecture to export (every one failed or "
                          "violated the constraints); relax them or raise the budget")
    if num_classes is None:
        from .data import num_classes_of
        from .errors import NasxError

        source = result.settings.get("data")
        try:
            num_classes = num_classes_of(source)
        except NasxError:
            raise ConfigError(f"cannot tell the number of classes of the search's data "
                              f"{source!r}; pass num_classes") from None
    opts = dict(result.settings.get("space_opts") or {})
    return export(result.space, result.best, path, num_classes=num_classes, space_opts=opts,
                  **options)
