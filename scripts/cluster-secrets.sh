#!/usr/bin/env bash
# Makes the secrets of a new micro cluster before it exists, so every node can be configured
# up front (Compose, Kubernetes Secrets): a cluster CA, a join token that pins it, and a config
# secret key. The first node bootstraps with them (MICRO_CA_CERT, MICRO_CA_KEY,
# MICRO_JOIN_TOKEN, MICRO_CONFIG_SECRET_KEY); the others join with the token.
#
#   scripts/cluster-secrets.sh DIR    writes DIR/{ca.pem,ca.key,join-token,config-secret-key}
#
# Needs openssl. DIR is created with mode 0700; treat its files like passwords.
set -euo pipefail

if [ $# -ne 1 ] || [ "${1:0:1}" = "-" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
command -v openssl >/dev/null || { echo "$0: openssl is needed" >&2; exit 1; }
if [ -e "$dir/ca.key" ] || [ -e "$dir/join-token" ]; then
    echo "$0: $dir already holds cluster secrets; refusing to overwrite them" >&2
    exit 1
fi
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

# An ECDSA P-256 CA, as the server generates itself (PKCS#8 key, CA basic constraints).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" 2>/dev/null
openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=micro cluster CA" -days 36500 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$dir/ca.pem"
# The token: MICRO1.<sha256 of the CA certificate (DER)>.<32 random bytes>, all hex.
ca_hash=$(openssl x509 -in "$dir/ca.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
printf 'MICRO1.%s.%s\n' "$ca_hash" "$(openssl rand -hex 32)" >"$dir/join-token"
openssl rand -base64 32 >"$dir/config-secret-key"
echo "wrote $dir/ca.pem, ca.key, join-token and config-secret-key"
