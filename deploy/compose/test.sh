#!/usr/bin/env bash
# End-to-end tests of the Compose deployment: a real three-node cluster of micro containers,
# driven from the host with the micro CLI on the published ports, faults made with docker.
#
#   deploy/compose/test.sh            (after scripts/build-image.sh; MICRO_IMAGE picks the image,
#                                      MICRO_BIN the host CLI, default target/{release,debug}/micro)
#
# 1. up: a write through node 2 is read through node 3.
# 2. docker kill of the leader: writes through the others go on; restarted on its volume, it
#    catches up.
# 3. docker network disconnect of the leader: the majority elects another leader and takes
#    writes; the isolated node answers no linearizable read (it errs or blocks) although its
#    replica holds the old value; reconnected, it catches up.
# 4. each container in turn stopped, removed and recreated on its volume under continuous
#    writes: every acknowledged write is there afterwards, on every node.
#
# Everything it creates (containers, network, volumes, temp dirs) is removed on exit. Exits 0
# only if every test passed; the last line is "N passed, N failed".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
image=${MICRO_IMAGE:-micro:latest}
project=microe2e$$
work=$(mktemp -d)
export HOME=$work/home # the CLI keeps envs and tokens under ~/.micro
mkdir -p "$HOME"

if [ -n "${MICRO_BIN:-}" ]; then
    micro=$MICRO_BIN
else
    target=${CARGO_TARGET_DIR:-$root/target}
    micro=
    for p in "$target/release/micro" "$target/debug/micro"; do
        if [ -x "$p" ]; then micro=$p; break; fi
    done
fi
if [ -z "$micro" ] || [ ! -x "$micro" ]; then
    echo "no micro binary: build it or set MICRO_BIN" >&2
    exit 1
fi
docker image inspect "$image" >/dev/null 2>&1 ||
    { echo "no image $image: run scripts/build-image.sh first" >&2; exit 1; }
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    compose=(docker-compose)
fi

# Free host ports for the published api/proxy/admin ports of the three nodes.
read -r -a ports <<<"$(python3 -c '
import socket
ss = [socket.socket() for _ in range(9)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')"
export MICRO_IMAGE=$image MICRO_SECRETS=$work/secrets COMPOSE_PROJECT_NAME=$project
export NODE1_API=${ports[0]} NODE1_PROXY=${ports[1]} NODE1_ADMIN=${ports[2]}
export NODE2_API=${ports[3]} NODE2_PROXY=${ports[4]} NODE2_ADMIN=${ports[5]}
export NODE3_API=${ports[6]} NODE3_PROXY=${ports[7]} NODE3_ADMIN=${ports[8]}
proxy_of() { case $1 in node1) echo "$NODE1_PROXY" ;; node2) echo "$NODE2_PROXY" ;; node3) echo "$NODE3_PROXY" ;; esac; }
admin_of() { case $1 in node1) echo "$NODE1_ADMIN" ;; node2) echo "$NODE2_ADMIN" ;; node3) echo "$NODE3_ADMIN" ;; esac; }

cx() { "${compose[@]}" -p "$project" -f "$here/docker-compose.yml" "$@"; }
cid() { cx ps -q "$1"; }
m() { "$micro" "$@"; }
log() { echo "  $(date +%T) $*"; }
fail() { echo "  FAIL: $*" >&2; return 1; }

writer_pid=
cleanup() {
    local rc=$?
    if [ -n "$writer_pid" ]; then kill "$writer_pid" 2>/dev/null || true; fi
    if [ $rc -ne 0 ]; then
        echo "--- container logs (last lines) ---"
        cx logs --no-color --tail 40 2>&1 || true
    fi
    cx down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls a command until it succeeds or `secs` pass.
retry() {
    local secs=$1 start=$SECONDS
    shift
    until "$@" >/dev/null 2>&1; do
        if [ $((SECONDS - start)) -ge "$secs" ]; then
            return 1
        fi
        sleep 0.5
    done
}
# The container's own healthcheck (GET /ready on its admin port).
ready() { docker exec "$(cid "$1")" micro-entrypoint healthcheck; }
wait_ready() {
    local svc
    for svc in "$@"; do
        retry 120 ready "$svc" || fail "$svc not ready within 120 s"
    done
}
# Whether the entrypoint of service $1's current container logged $2.
entrypoint_said() {
    local logs
    logs=$(docker logs "$(cid "$1")" 2>&1)
    grep "^micro-entrypoint: " <<<"$logs" | grep -F "$2" >/dev/null ||
        fail "$1's entrypoint did not say '$2'"
}
# The service whose node leads, as the members list seen through env $1 says.
leader() {
    m -e "$1" cluster members 2>/dev/null | awk '$2 == "leader" { split($3, a, ":"); print a[1] }'
}
# Prints the value of key $2 read through env $1 (extra flags after).
read_key() {
    local env=$1 key=$2
    shift 2
    m -e "$env" store read "$@" "$key" 2>/dev/null
}
value_is() { [ "$(read_key "$1" "$2" "${@:4}")" = "$3" ]; }
write_retrying() { retry 60 m -e "$1" store write "$2" "$3" || fail "write $2 through $1 failed for 60 s"; }

passed=0
failed=0
run() {
    local name=$1 start=$SECONDS rc
    shift
    echo "== $name"
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "   ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        echo "   FAILED ($((SECONDS - start)) s)"
        echo "$passed passed, $failed failed"
        exit 1
    fi
}

test_up_write_node2_read_node3() {
    log "starting $project with $image"
    "$here/up.sh" >/dev/null 2>&1
    wait_ready node1 node2 node3
    # The entrypoint's decisions (the same rules the Kubernetes pods follow).
    entrypoint_said node1 "bootstrapping a new cluster"
    entrypoint_said node2 "joining node1:8085"
    entrypoint_said node3 "joining node1:8085"
    m env add n1 "127.0.0.1:$NODE1_PROXY" >/dev/null
    m env add n2 "127.0.0.1:$NODE2_PROXY" >/dev/null
    m env add n3 "127.0.0.1:$NODE3_PROXY" >/dev/null
    m env add all "127.0.0.1:$NODE1_PROXY,127.0.0.1:$NODE2_PROXY,127.0.0.1:$NODE3_PROXY" >/dev/null
    local e
    for e in n1 n2 n3 all; do
        retry 60 m -e "$e" login --username admin --password micro || fail "login through $e"
    done
    [ "$(m -e all cluster members | grep -c ':8085')" = 3 ] || fail "expected 3 members"
    m -e n2 store write greeting "hello from node2"
    value_is n3 greeting "hello from node2" || fail "node3 read $(read_key n3 greeting)"
    log "written through node2, read through node3"
}

test_kill_leader() {
    local lead others env_a env_b i
    lead=$(leader all)
    [ -n "$lead" ] || fail "no leader"
    others=$(printf 'node1\nnode2\nnode3\n' | grep -v "^$lead$" | tr '\n' ' ')
    read -r a b <<<"$others"
    env_a=n${a#node} env_b=n${b#node}
    log "killing the leader $lead"
    docker kill "$(cid "$lead")" >/dev/null
    write_retrying "$env_a" killed-1 1
    for i in 2 3 4 5; do m -e "$env_a" store write "killed-$i" "$i"; done
    value_is "$env_b" killed-5 5 || fail "$b does not read the writes made through $a"
    local new
    new=$(leader "$env_a")
    [ -n "$new" ] && [ "$new" != "$lead" ] || fail "no new leader (members say '$new')"
    log "writes went on with $new leading; restarting $lead on its volume"
    docker start "$(cid "$lead")" >/dev/null
    wait_ready "$lead"
    retry 60 value_is "n${lead#node}" killed-5 5 --stale || fail "$lead did not catch up"
    log "$lead caught up"
}

test_partition_leader() {
    local lead c net a b env_a i out rc
    lead=$(leader all)
    [ -n "$lead" ] || fail "no leader"
    c=$(cid "$lead")
    net=${project}_micro
    read -r a b <<<"$(printf 'node1\nnode2\nnode3\n' | grep -v "^$lead$" | tr '\n' ' ')"
    env_a=n${a#node}
    # The CLI inside the container talks to its own node (its published ports go with the
    # network); log in there before the node is cut off.
    docker exec "$c" micro login --username admin --password micro >/dev/null
    m -e all store write part before
    retry 30 docker exec "$c" micro store read --stale part || fail "$lead has not applied 'before'"
    log "disconnecting the leader $lead from $net"
    docker network disconnect "$net" "$c"
    write_retrying "$env_a" part after
    local new
    new=$(leader "$env_a")
    [ -n "$new" ] && [ "$new" != "$lead" ] || fail "no new leader (members say '$new')"
    log "$new leads the majority, which took a write"
    # The isolated node still holds 'before' in its replica ...
    out=$(docker exec "$c" micro store read --stale part 2>&1) || true
    [ "$out" = before ] || fail "the isolated replica shows '$out', expected the old value"
    # ... but a linearizable read there errs or blocks; it never answers the stale value.
    set +e
    out=$(timeout 30 docker exec "$c" micro store read part 2>&1)
    rc=$?
    set -e
    log "linearizable read on the isolated node: exit $rc: $(echo "$out" | head -1)"
    [ $rc -ne 0 ] || fail "the isolated node answered a linearizable read: '$out'"
    case $out in *before*) fail "the isolated node served the stale value" ;; esac
    docker network connect --alias "$lead" "$net" "$c"
    log "reconnected $lead"
    wait_ready "$lead"
    retry 60 value_is "n${lead#node}" part after --stale || fail "$lead did not catch up"
    out=$(docker exec "$c" micro store read part)
    [ "$out" = after ] || fail "after reconnecting, $lead reads '$out'"
    log "$lead caught up"
}

test_rolling_replacement() {
    local acked=$work/acked stop=$work/stop svc before i n
    : >"$acked"
    (
        i=0
        while [ ! -e "$stop" ] && [ $i -lt 5000 ]; do
            i=$((i + 1))
            if "$micro" -e all store write "roll-$i" "$i" >/dev/null 2>&1; then
                echo "$i" >>"$acked"
            fi
        done
    ) &
    writer_pid=$!
    retry 30 test -s "$acked" || fail "the writer acknowledged nothing"
    for svc in node1 node2 node3; do
        before=$(wc -l <"$acked")
        log "replacing $svc ($before writes acknowledged so far)"
        cx stop -t 20 "$svc" >/dev/null 2>&1
        cx rm -f "$svc" >/dev/null 2>&1
        cx up -d --no-deps "$svc" >/dev/null 2>&1
        wait_ready "$svc"
        entrypoint_said "$svc" "restarting"
        n=$(wc -l <"$acked")
        log "$svc is back and ready; $((n - before)) writes acknowledged meanwhile"
        [ "$n" -gt "$before" ] || fail "no write was acknowledged while $svc was replaced"
    done
    touch "$stop"
    wait "$writer_pid" || true
    writer_pid=
    n=$(wc -l <"$acked")
    log "$n writes acknowledged in all; checking every one on every node"
    sort -n "$acked" | sed 's/^/roll-/' >"$work/want"
    for e in n1 n2 n3; do
        retry 60 value_is "$e" "roll-$(tail -1 "$acked")" "$(tail -1 "$acked")" --stale ||
            fail "$e has not applied the last write"
        m -e "$e" store list --prefix roll- --stale | sort -t- -k2 -n >"$work/got-$e"
        local missing
        missing=$(comm -23 <(sort "$work/want") <(sort "$work/got-$e") | wc -l)
        [ "$missing" = 0 ] || fail "$e lacks $missing acknowledged writes, e.g. $(comm -23 <(sort "$work/want") <(sort "$work/got-$e") | head -3 | tr '\n' ' ')"
    done
    log "every acknowledged write is on every node"
}

start=$SECONDS
run "compose up; write through node 2, read through node 3" test_up_write_node2_read_node3
run "docker kill of the leader" test_kill_leader
run "docker network disconnect of the leader" test_partition_leader
run "rolling replacement under continuous writes" test_rolling_replacement
echo "compose tests took $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
