#!/bin/bash
# The whole side-by-side comparison in one command: builds the release binaries, then runs the
# throughput grid (benches/tftp-throughput.py) and the boot storms with and without loss
# (benches/boot-storm.py) against tftpd-hpa, atftpd and dnsmasq on loopback, and prints the
# tables. Extra arguments go to boot-storm.py (for example --runs 3 or --images).
#   sudo bash peers/install.sh   # once
#   bash benches/compare-peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example cnf-server --example phone-sim
python3 benches/tftp-throughput.py
python3 benches/boot-storm.py "$@"
