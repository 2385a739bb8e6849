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
ALL=$(python3 -c "import nasx; print(','.join(nasx.list_proxies()))")
timeout $((SUITE_BUDGET + 90)) python3 benchmarks/table_suite.py --device cuda --n 1000 --shards 8 \
    --batch-size 64 --proxies "$ALL" --time-budget "$SUITE_BUDGET" --store "$OUT/suite.sqlite" \
    --out "$OUT/nb201_all_gpu.json" --dump-scores "$OUT/nb201_scores_gpu.csv" \
    2>&1 | tee "$OUT/suite.log" | grep -v "^\[" | tail -60
timeout 120 python3 benchmarks/ensemble_nb201.py --scores "$OUT/nb201_scores_gpu.csv" \
    --settings "$OUT/nb201_all_gpu.json" --out "$OUT/ensemble_nb201_gpu.json" 2>&1 | tail -45
timeout 150 python3 benchmarks/speed.py --device cuda --cells 10 --warmup 2 \
    --out "$OUT/speed_cuda.json" 2>&1 | tail -25
# search quality on NAS-Bench-201: the built-in ensemble and gradalign-i, random and evolution,
# budgets 100 and 500, 5 seeds (scores shared through one store)
for P in nasx-ens gradalign-i; do  # nasx-ens: see nasx/proxies/ensembles.py
  timeout 600 python3 benchmarks/strategies_nb201.py --proxy "$P" --device cuda --batch-size 64 \
      --strategies random,evolution --budgets 100,500 --seeds 0-4 --store "$OUT/strategies.sqlite" \
      --out "$OUT/strategies_nb201_${P}_gpu.json" 2>&1 | tail -12
done
