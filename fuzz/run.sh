#!/bin/sh
# make fuzz: builds every fuzz/fuzz_*.c with libFuzzer and runs each for $1 seconds.
echo "no fuzz targets yet"
