#!/usr/bin/env bash
# Builds the micro container image from a checkout, pulling nothing: compiles the release
# binary, stages a root filesystem with it, exactly the shared libraries it links (ldd), a
# static busybox (for the entrypoint and the healthcheck) and the entrypoint, then runs
# `docker build` on deploy/docker/Dockerfile FROM scratch.
#
#   scripts/build-image.sh [--tag NAME:TAG] [--base IMAGE] [--binary PATH]
#
#   --tag     image name (default micro:<version>, also tagged micro:latest)
#   --base    base image (default scratch); a glibc image such as
#             gcr.io/distroless/cc-debian12 or debian:bookworm-slim needs a registry, and then
#             supplies the libraries itself
#   --binary  use this micro binary instead of building one (it must be a glibc x86_64 build)
#
# Needs cargo, docker, ldd, and busybox-static (fetched with `apt-get download` when missing).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
tag="micro:$version"
base=scratch
binary=
while [ $# -gt 0 ]; do
    case "$1" in
    --tag) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    *) echo "usage: $0 [--tag NAME:TAG] [--base IMAGE] [--binary PATH]" >&2; exit 2 ;;
    esac
done

if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release --locked --bin micro)
    binary="${CARGO_TARGET_DIR:-$root/target}/release/micro"
fi
[ -x "$binary" ] || { echo "$0: no micro binary at $binary" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
rootfs=$ctx/rootfs
mkdir -p "$rootfs/usr/local/bin" "$ctx/data"

install -m 0755 "$binary" "$rootfs/usr/local/bin/micro"
if command -v strip >/dev/null; then
    strip --strip-unneeded "$rootfs/usr/local/bin/micro"
fi
install -m 0755 "$root/deploy/docker/entrypoint.sh" "$rootfs/usr/local/bin/micro-entrypoint"

# A static busybox: the entrypoint's shell, cat, hostname and wget (the healthcheck).
busybox=
for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then
        busybox=$candidate
        break
    fi
done
if [ -z "$busybox" ]; then
    deb_dir=$ctx/deb
    mkdir -p "$deb_dir"
    if ! (cd "$deb_dir" && apt-get download busybox-static >/dev/null 2>&1); then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq
            (cd "$deb_dir" && apt-get download busybox-static >/dev/null)
        else
            echo "$0: need a static busybox: apt-get download busybox-static failed" >&2
            exit 1
        fi
    fi
    dpkg-deb -x "$deb_dir"/busybox-static_*.deb "$deb_dir/x"
    busybox=$deb_dir/x/bin/busybox
fi
install -m 0755 "$busybox" "$rootfs/usr/local/bin/busybox"
# The busybox lives in /usr/local/bin, so a base image's /bin (often a symlink) is untouched.
sed -i '1s|^#!/bin/sh$|#!/usr/local/bin/busybox sh|' "$rootfs/usr/local/bin/micro-entrypoint"
sed -i 's|^BB=/bin/busybox$|BB=/usr/local/bin/busybox|' "$rootfs/usr/local/bin/micro-entrypoint"

if [ "$base" = scratch ]; then
    # Exactly the shared libraries the binary links, at the paths the loader expects.
    ldd "$binary" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
    mkdir -p "$rootfs/etc" "$rootfs/tmp"
    chmod 1777 "$rootfs/tmp"
    printf 'root:x:0:0:root:/:/sbin/nologin\nmicro:x:10001:10001:micro:/data:/sbin/nologin\n' \
        >"$rootfs/etc/passwd"
    printf 'root:x:0:\nmicro:x:10001:\n' >"$rootfs/etc/group"
    printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
fi

cp "$root/deploy/docker/Dockerfile" "$ctx/Dockerfile"
if docker buildx version >/dev/null 2>&1; then
    build=(docker build)
else
    # No buildx plugin: the classic builder (which also reads Dockerfiles like this one).
    build=(env DOCKER_BUILDKIT=0 docker build)
fi
if ! "${build[@]}" --build-arg "BASE=$base" -t "$tag" "$ctx" >"$ctx/build.log" 2>&1; then
    cat "$ctx/build.log" >&2
    exit 1
fi
if [ "${tag%:*}" = micro ]; then
    docker tag "$tag" micro:latest
fi
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "built $tag from $base: $((size / 1024 / 1024)) MiB ($size bytes)"
