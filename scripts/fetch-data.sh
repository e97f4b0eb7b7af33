#!/usr/bin/env bash
# Downloads the official MNIST files into DIR/mnist (default ./data), for users with internet
# access, and writes the permuted-MNIST pixel order of the authors' code, which needs PyTorch:
#   torch.manual_seed(12008); torch.randperm(784)
# Usage: scripts/fetch-data.sh [DIR]
set -euo pipefail
dir="${1:-data}"
mkdir -p "$dir/mnist"
base="https://ossci-datasets.s3.amazonaws.com/mnist"   # the mirror torchvision uses
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -f "$dir/mnist/$f.gz" ] || curl -fL --retry 3 -o "$dir/mnist/$f.gz" "$base/$f.gz"
done
if [ ! -f "$dir/mnist/pmnist-permutation.txt" ]; then
  python3 -c 'import torch; torch.manual_seed(12008); print(" ".join(map(str, torch.randperm(784).tolist())))' \
    > "$dir/mnist/pmnist-permutation.txt" \
    || echo "PyTorch not found: psmnist needs $dir/mnist/pmnist-permutation.txt" >&2
fi
echo "MNIST in $dir/mnist"
