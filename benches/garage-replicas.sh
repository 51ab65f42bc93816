#!/usr/bin/env bash
# Two cnf-server replicas serving one bucket of a three-node Garage cluster (a distributed S3
# store), all on loopback; one Garage node is stopped midway. Checks, and prints as it goes:
#   - both replicas serve every object byte for byte (TFTP, curl);
#   - a new object put while a node is down reaches both replicas within one refresh;
#   - what Garage answers to a second create-only put (If-None-Match: *) of one name.
#
#   bash benches/garage-replicas.sh        # needs garage (cargo install garage --locked),
#                                          # curl, openssl, and the release cnf-server build
# Exit status: 0 all checks held (or garage is not installed: a SKIP line), 1 a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v garage >/dev/null; then
  echo "SKIP: garage is not installed (cargo install garage --locked)"
  exit 0
fi
server=target/release/examples/cnf-server
[[ -x $server ]] || cargo build -q --release --example cnf-server

work=$(mktemp -d /tmp/cnfkit-garage-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

secret=$(openssl rand -hex 32)
base=$((20000 + RANDOM % 20000))
conf() { echo "$work/garage$1.toml"; }
s3_port() { echo $((base + $1 * 10)); }
for i in 1 2 3; do
  mkdir -p "$work/n$i"
  cat >"$(conf "$i")" <<EOF
metadata_dir = "$work/n$i/meta"
data_dir = "$work/n$i/data"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$(($(s3_port "$i") + 1))"
rpc_public_addr = "127.0.0.1:$(($(s3_port "$i") + 1))"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$(s3_port "$i")"
root_domain = ".s3.garage.localhost"
EOF
  garage -c "$(conf "$i")" server >"$work/n$i.log" 2>&1 &
  pids+=($!)
  node_pid[i]=$!
done
g() { garage -c "$(conf 1)" "$@"; }
for _ in $(seq 50); do g status >/dev/null 2>&1 && break; sleep 0.2; done
for i in 2 3; do
  id=$(garage -c "$(conf "$i")" node id -q 2>/dev/null)
  g node connect "$id" >/dev/null
done
for i in 1 2 3; do
  id=$(garage -c "$(conf "$i")" node id -q 2>/dev/null)
  g layout assign -z dc1 -c 1G "${id%@*}" >/dev/null
done
g layout apply --version 1 >/dev/null
g bucket create phones >/dev/null
keys=$(g key create cnfkit)
key_id=$(awk '/Key ID/ {print $NF}' <<<"$keys")
key_secret=$(awk '/Secret key/ {print $NF}' <<<"$keys")
[[ -n $key_id && -n $key_secret ]] || fail "no key in: $keys"
g bucket allow --read --write --owner phones --key cnfkit >/dev/null
echo "garage: 3 nodes, replication factor 3, bucket phones"

# Objects go in through node 1 with curl's SigV4 signing.
put() { # put NODE KEY FILE [extra curl args]: prints the HTTP status
  local node=$1 key=$2 file=$3; shift 3
  curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:garage:s3" --user "$key_id:$key_secret" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" -T "$file" \
    "http://127.0.0.1:$(s3_port "$node")/phones/site1/$key"
}
mkdir -p "$work/tree"
printf '<Default>\n  <loadInformation>SIP78xx.14-2-1-0001-14</loadInformation>\n</Default>\n' >"$work/tree/XMLDefault.cnf.xml"
printf '<device><loadInformation>SIP78xx.14-2-1-0001-14</loadInformation></device>\n' >"$work/tree/SEP001122334455.cnf.xml"
head -c $((3 << 20)) /dev/urandom >"$work/tree/sip78xx.14-2-1-0001-14.sbn"
for f in "$work"/tree/*; do
  [[ $(put 1 "$(basename "$f")" "$f") == 200 ]] || fail "put $(basename "$f")"
done

# Two replicas, each listing through a node of its own.
replica() { # replica N NODE TFTP_PORT
  AWS_ENDPOINT_URL="http://127.0.0.1:$(s3_port "$2")" AWS_ACCESS_KEY_ID=$key_id \
    AWS_SECRET_ACCESS_KEY=$key_secret AWS_REGION=garage AWS_ALLOW_HTTP=true \
    "$server" --source s3://phones/site1/ --cache-dir "$work/cache$1" --refresh 2 \
    --bind "127.0.0.1:$3" >"$work/replica$1.log" 2>&1 &
  pids+=($!)
}
tftp1=$((base + 101)) tftp2=$((base + 102))
replica 1 1 $tftp1
replica 2 2 $tftp2
for _ in $(seq 100); do
  grep -q "serving s3://" "$work/replica1.log" && grep -q "serving s3://" "$work/replica2.log" && break
  sleep 0.2
done
same_on_both() { # same_on_both NAME FILE
  for port in $tftp1 $tftp2; do
    curl -s --max-time 20 -o "$work/got" "tftp://127.0.0.1:$port/$1" && cmp -s "$work/got" "$2" || return 1
  done
}
for f in "$work"/tree/*; do
  same_on_both "$(basename "$f")" "$f" || fail "replicas differ on $(basename "$f")"
done
echo "ok: both replicas serve the 3 objects byte for byte"

# Node 3 stops; a new object goes in through node 1 and reaches both replicas.
kill "${node_pid[3]}"
echo "garage node 3 stopped"
printf '<device>added with a node down</device>\n' >"$work/tree/SEP00AABBCCDDEE.cnf.xml"
[[ $(put 1 SEP00AABBCCDDEE.cnf.xml "$work/tree/SEP00AABBCCDDEE.cnf.xml") == 200 ]] || fail "put with a node down"
start=$(date +%s.%N)
until same_on_both SEP00AABBCCDDEE.cnf.xml "$work/tree/SEP00AABBCCDDEE.cnf.xml"; do
  (($(echo "$(date +%s.%N) - $start > 10" | bc) == 0)) || fail "the new object did not reach both replicas in 10 s"
  sleep 0.2
done
printf 'ok: a new object reached both replicas %.1f s after its put, node 3 down\n' "$(echo "$(date +%s.%N) - $start" | bc)"
for f in "$work"/tree/*; do
  same_on_both "$(basename "$f")" "$f" || fail "replicas differ on $(basename "$f") with node 3 down"
done
echo "ok: both replicas still serve every object byte for byte"

# Create-only puts: the first of a new name succeeds; what does the second get?
printf 'first\n' >"$work/first" && printf 'second\n' >"$work/second"
first=$(put 1 create-only.txt "$work/first" -H 'If-None-Match: *')
second=$(put 2 create-only.txt "$work/second" -H 'If-None-Match: *')
echo "create-only puts of one name: first $first, second $second ($([[ $second == 412 ]] && echo refused || echo accepted))"
