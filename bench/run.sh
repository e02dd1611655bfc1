#!/bin/sh
# make bench: benchmarks against the PyTorch reference (see bench/README.md).
echo "no benchmarks yet"
