#!/usr/bin/env bash
# Checks deploy/systemd/micro.service with `systemd-analyze verify` in a scratch root that
# holds the system's units and the micro binary (so ExecStart is checked too). Any message
# fails: systemd-analyze exits 0 on ignored settings such as a misspelt value.
#
#   deploy/systemd/verify.sh [MICRO_BINARY]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
if [ $# -gt 0 ]; then
    install -m 0755 "$1" "$root/usr/local/bin/micro"
else
    printf '#!/bin/sh\n' >"$root/usr/local/bin/micro"
    chmod 0755 "$root/usr/local/bin/micro"
fi
cp "$here/micro.service" "$root/etc/systemd/system/micro.service"
out=$(systemd-analyze verify --root="$root" micro.service 2>&1) || {
    echo "$out"
    exit 1
}
if [ -n "$out" ]; then
    echo "$out"
    exit 1
fi
echo "micro.service: systemd-analyze verify found nothing to report"
