#!/usr/bin/env bash
# Makes the pictures the README shows:
# - docs/dashboard.png: the dashboard after a storm of 50 simulated phones behind one address
#   (40 stuck on a missing image), rendered by headless Chromium (peers/install.sh installs it),
#   with one phone's request timeline open;
# - docs/storm-report.svg: `phone-sim --report` of 100 phones booting against the demo tree.
set -euo pipefail
cd "$(dirname "$0")/.."
CNFKIT_DASHBOARD_PNG="$PWD/docs/dashboard.png" cargo test --test admin -- --exact \
  fifty_phones_behind_one_address_are_listed_by_mac_with_the_missing_image_named
echo "wrote docs/dashboard.png"
cargo build --release --example cnf-server --example phone-sim
port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/release/examples/cnf-server --bind "127.0.0.1:$port" --admin 127.0.0.1:0 >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 0.5
target/release/examples/phone-sim --server "127.0.0.1:$port" --phones 100 --concurrency 20 \
  --running-load SCCP42.8-5-4S --report docs/storm-report.svg | tail -n 1
echo "wrote docs/storm-report.svg"
