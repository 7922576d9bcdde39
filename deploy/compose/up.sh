#!/usr/bin/env bash
# Starts the three-node Compose cluster: makes the cluster's secrets once (CA, join token,
# config key) in deploy/compose/secrets/ (or $MICRO_SECRETS), then `docker-compose up -d`.
# Extra arguments go to `up` (e.g. --force-recreate). Stop with:
#   docker-compose -f deploy/compose/docker-compose.yml down      (add -v to delete the data)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secrets=${MICRO_SECRETS:-$here/secrets}
if [ ! -e "$secrets/join-token" ]; then
    "$root/scripts/cluster-secrets.sh" "$secrets"
fi
# The files are bind-mounted into the containers, which run as uid 10001: they must be readable
# there. The directory stays 0700, so other users of this machine still cannot reach them.
chmod 0700 "$secrets"
chmod 0644 "$secrets"/ca.pem "$secrets"/ca.key "$secrets"/join-token "$secrets"/config-secret-key
export MICRO_SECRETS="$secrets"

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    compose=(docker-compose)
fi
"${compose[@]}" -f "$here/docker-compose.yml" up -d "$@"
