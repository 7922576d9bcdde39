#!/usr/bin/env bash
# Builds the release archive dist/micro-<version>-x86_64-linux.tar.gz (the stripped release
# binary, the systemd unit and its example settings, the README) and its SHA-256 checksum file
# dist/micro-<version>-x86_64-linux.tar.gz.sha256 (`sha256sum -c` checks it).
#
#   scripts/release.sh [--binary PATH] [--out DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
out=$root/dist
binary=
while [ $# -gt 0 ]; do
    case "$1" in
    --binary) binary=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--out DIR]" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release --locked --bin micro)
    binary="${CARGO_TARGET_DIR:-$root/target}/release/micro"
fi
arch=$(uname -m)
name=micro-$version-$arch-linux
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name" "$out"
install -m 0755 "$binary" "$stage/$name/micro"
if command -v strip >/dev/null; then
    strip --strip-unneeded "$stage/$name/micro"
fi
install -m 0644 "$root/deploy/systemd/micro.service" "$root/deploy/systemd/micro.env.example" \
    "$root/README.md" "$stage/$name/"
# Reproducible metadata: fixed owner and the commit's time (when in a git checkout).
mtime=$(git -C "$root" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name --mtime="$mtime" \
    -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "$out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)), checksum in $name.tar.gz.sha256"
