#!/usr/bin/env bash
# Benchmarks micro side by side with etcd (and NATS JetStream for durable publish) on this
# machine: installs Debian's etcd-server and nats-server when missing, builds the release
# binaries, then runs micro-compare, which starts a three-node cluster of each on loopback
# (data under /var/tmp, on disk, fsync on), runs every workload of issue 8 interleaved
# (micro, etcd, micro, etcd, …) for --rounds rounds, prints the Markdown table of medians,
# ranges and ratios, and stops every process it started.
#
#   scripts/bench-compare.sh                 # 3 rounds of 5 s per workload (~20 minutes)
#   scripts/bench-compare.sh --smoke         # a few hundred operations per workload (CI)
#   scripts/bench-compare.sh --only "2 put"  # some rows; --help lists every flag
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null || ! command -v nats-server >/dev/null; then
    apt-get update -qq && apt-get install -y -qq etcd-server nats-server >/dev/null
fi
# The Debian package may start etcd as a service on the default ports; ours use free ones.
cargo build --release --locked --bin micro --bin micro-compare
target=${CARGO_TARGET_DIR:-target}/release
MICRO_BIN=$target/micro exec "$target/micro-compare" "$@"
