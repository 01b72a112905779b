#!/bin/bash
# Builds cuda_check.cpp against the PyTorch installed on the device machine and runs it.
# Usage (from the repo root): tests/models/cuda_check/run.sh CARRY_DIR   (CARRY_DIR holds include/nlohmann and golden/)
set -euo pipefail
CARRY=$1
TORCH=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
ABI=$(python3 -c "import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
OBJ=/tmp/afa_cuda_obj; mkdir -p $OBJ
FLAGS="-std=c++17 -O2 -D_GLIBCXX_USE_CXX11_ABI=$ABI -Isrc -I$CARRY/include -isystem $TORCH/include -isystem $TORCH/include/torch/csrc/api/include"
pids=()
for f in src/afa/models/*.cpp src/afa/io/safetensors.cpp src/afa/io/state_dict.cpp tests/models/cuda_check/cuda_check.cpp; do
  g++ $FLAGS -c $f -o $OBJ/$(basename $f).o & pids+=($!)
done
for p in "${pids[@]}"; do wait $p; done
g++ $OBJ/*.o -o /tmp/afa_cuda_check -L$TORCH/lib -Wl,-rpath,$TORCH/lib -Wl,--no-as-needed -ltorch_cuda -ltorch -ltorch_cpu -lc10_cuda -lc10 -Wl,--as-needed
/tmp/afa_cuda_check $CARRY/golden
