#!/usr/bin/env bash
# Makes docs/dashboard.png: the dashboard after a storm of 50 simulated phones behind one
# address (40 stuck on a missing image), rendered by headless Chromium (peers/install.sh
# installs it), with one phone's request timeline open.
set -euo pipefail
cd "$(dirname "$0")/.."
CNFKIT_DASHBOARD_PNG="$PWD/docs/dashboard.png" cargo test --test admin fifty_phones -- --exact \
  fifty_phones_behind_one_address_are_listed_by_mac_with_the_missing_image_named
echo "wrote docs/dashboard.png"
