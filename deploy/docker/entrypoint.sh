#!/bin/sh
# The container's entrypoint (/usr/local/bin/micro-entrypoint): decides whether this node
# bootstraps a cluster, joins one or restarts, then execs `micro server`. Compose and the
# Kubernetes StatefulSet both use it, with the same rules:
#
#   restart    the data dir ($MICRO_DATA_DIR, /data) holds a node identity (node-id): the node
#              restarts from it; MICRO_JOIN is ignored.
#   bootstrap  no identity, and MICRO_JOIN is unset or names this host (its first DNS label is
#              this container's hostname: node1 in Compose, micro-0 in Kubernetes). With
#              MICRO_CA_CERT/MICRO_CA_KEY and MICRO_JOIN_TOKEN (scripts/cluster-secrets.sh) the
#              new cluster uses that CA and token, so the others can be given the token up front.
#   join       otherwise: join MICRO_JOIN with MICRO_JOIN_TOKEN.
#
# MICRO_JOIN_TOKEN_FILE and MICRO_CONFIG_SECRET_KEY_FILE name files to read those secrets from
# (Docker's *_FILE convention). MICRO_ADVERTISE_ADDRESS defaults to <hostname>:<peer port>.
#
#   micro-entrypoint [server]        start the node as above
#   micro-entrypoint healthcheck     exit 0 if GET /ready on the admin port answers 200
#   micro-entrypoint ARGS...         run `micro ARGS...` (e.g. `store read k`)
set -eu

BB=/bin/busybox
MICRO=/usr/local/bin/micro

port_of() { # port of HOST:PORT or :PORT
    echo "${1##*:}"
}

if [ "${1:-server}" = healthcheck ]; then
    port=$(port_of "${MICRO_ADMIN_ADDRESS:-:8082}")
    # (No -T: this busybox crashes with it; the HEALTHCHECK timeout bounds the probe.)
    exec $BB wget -q -O /dev/null "http://127.0.0.1:$port/ready"
fi
if [ $# -gt 0 ] && [ "$1" != server ]; then
    exec $MICRO "$@"
fi
if [ $# -gt 0 ]; then shift; fi

for name in MICRO_JOIN_TOKEN MICRO_CONFIG_SECRET_KEY; do
    file=$(eval "echo \"\${${name}_FILE:-}\"")
    if [ -n "$file" ]; then
        if [ ! -r "$file" ]; then
            echo "micro-entrypoint: ${name}_FILE=$file is not readable" >&2
            exit 1
        fi
        value=$($BB cat "$file")
        export "$name=$value"
        unset "${name}_FILE"
    fi
done

data=${MICRO_DATA_DIR:-/data}
export MICRO_DATA_DIR="$data"
host=$($BB hostname)
if [ -z "${MICRO_ADVERTISE_ADDRESS:-}" ]; then
    MICRO_ADVERTISE_ADDRESS="$host:$(port_of "${MICRO_PEER_ADDRESS:-:8085}")"
    export MICRO_ADVERTISE_ADDRESS
fi

join_host=${MICRO_JOIN:-}
join_host=${join_host%:*}
if [ -s "$data/node-id" ]; then
    echo "micro-entrypoint: $data holds node $($BB cat "$data/node-id"): restarting" >&2
    unset MICRO_JOIN
elif [ -z "$join_host" ] || [ "${join_host%%.*}" = "$host" ]; then
    echo "micro-entrypoint: no identity in $data and no other node to join: bootstrapping a new cluster" >&2
    unset MICRO_JOIN
else
    echo "micro-entrypoint: no identity in $data: joining $MICRO_JOIN" >&2
fi
exec $MICRO server "$@"
