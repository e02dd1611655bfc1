#!/bin/sh
# The main job (make run): for now, inspect the bundled example model.
set -eu
SPARSA=${1:-build/sparsa}
"$SPARSA" --version
