#!/usr/bin/env bash
# Every GPU measurement in one go: the GPU tests, the throughput of the per-sample-gradient
# proxies (cells per second with K workers per GPU; partial JSON after every run), the paper's
# NAS-Bench-201 tables for all proxies (1000 cells, several workers sharing the GPU) and clean
# per-proxy timings.
# Results go to $OUT (default bench_out/). Data: $NASX_SHARED_DATA (default ../shared/data).
#   bash benchmarks/run_gpu.sh
set -u
OUT=${OUT:-bench_out}
mkdir -p "$OUT"
export NASX_SHARED_DATA=${NASX_SHARED_DATA:-$PWD/../shared/data}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
SUITE_BUDGET=${SUITE_BUDGET:-270}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, scipy, networkx, yaml, rich; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tail -15
timeout 240 python3 benchmarks/throughput.py --device cuda --threads 4 --sections cpu,workers,tenas \
    --cells 20 --loop-cells 2 --tenas-cells 3 --workers 1,2,4,8,16 --worker-cells 256 \
    --out "$OUT/throughput_cuda.json" 2>&1 | tail -30
timeout $((SUITE_BUDGET + 90)) python3 benchmarks/table_suite.py --device cuda --n 1000 --shards 8 \
    --time-budget "$SUITE_BUDGET" --store "$OUT/suite.sqlite" --out "$OUT/paper_tables_gpu.json" \
    2>&1 | tee "$OUT/suite.log" | grep -v "^\[" | tail -60
timeout 150 python3 benchmarks/speed.py --device cuda --cells 10 --warmup 2 \
    --out "$OUT/speed_cuda.json" 2>&1 | tail -25
