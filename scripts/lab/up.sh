#!/usr/bin/env bash
# The lab, ready to use: a Docker engine, the package cache and the Debian 12/13 images (each a
# few seconds when already there). The test suite adds the base-converged images on top.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/ensure-docker.sh"
"$here/apt-cache.sh"
"$here/build-images.sh" "$@"
