#!/bin/sh
# bench-publish: the apt image's "application".
set -eu
echo "bench-publish apt image $(cat /app/VERSION)"
curl --version | head -n 1
jq --version
