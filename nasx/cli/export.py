"""Write the network of an architecture as a file that loads with plain torch (or ONNX).

The network is built with fresh weights (seeded by --seed), put in eval mode and captured with
torch.export; the .pt2 file loads without nasx: torch.export.load(PATH).module().

Example:
  nasx export --space nasbench201 -o net.pt2 \\
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
  nasx export --space darts --space-opt C=36 --space-opt layers=20 -o darts.onnx GENOTYPE
"""

from __future__ import annotations

import argparse

from .common import dump_json, parse_kv

HELP = "write an architecture's network as a torch.export (.pt2) or ONNX file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", metavar="ARCH", help="the architecture in the space's notation")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="output file (.pt2; .onnx selects ONNX)")
    p.add_argument("--space", default="nasbench201", help="search space (nasx list spaces)")
    p.add_argument("--space-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="space option, repeatable (e.g. C=36)")
    p.add_argument("--format", default=None, choices=("pt2", "onnx"),
                   help="pt2 (torch.export) or onnx (needs pip install 'nasx[onnx]') "
                   "[from the suffix, else pt2]")
    p.add_argument("--num-classes", type=int, default=10, help="classifier outputs [10]")
    p.add_argument("--batch-size", type=int, default=1,
                   help="batch size of the example input the network is traced with [1]")
    p.add_argument("--static-batch", action="store_true",
                   help="fix the batch dimension to --batch-size (default: any batch size)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed of the weights [0]")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args: argparse.Namespace) -> int:
    from ..deploy import export

    out = export(args.space, args.arch, args.output, num_classes=args.num_classes,
                 format=args.format, batch_size=args.batch_size,
                 dynamic_batch=not args.static_batch, seed=args.seed,
                 space_opts=parse_kv(args.space_opt, "--space-opt"))
    if args.json:
        print(dump_json({"path": out.path, "format": out.format,
                         "traced_batch": out.input_shape[0], **out.metadata}))
    else:
        batch = "any" if out.dynamic_batch else str(out.input_shape[0])
        print(f"wrote {out.path} ({out.format}; input (batch={batch}, "
              f"{', '.join(str(v) for v in out.input_shape[1:])}))")
    return 0
