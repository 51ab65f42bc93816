#!/usr/bin/env bash
# The Debian package as an admin meets it: it builds, installs with dpkg -i (creating the user
# cnfkit), systemd-analyze verify accepts its unit, the installed binary serves a tree with the
# installed config as that user, reloads on SIGHUP, stops on SIGTERM, and the package removes
# and purges cleanly. Changes the system (root only): CI runs it on a fresh machine.
#
#   sudo bash packaging/deb/test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "packaging/deb/test.sh: run as root (it installs a package)" >&2; exit 2; }
if dpkg -s cnf-server >/dev/null 2>&1; then
  echo "packaging/deb/test.sh: cnf-server is installed already; remove it first" >&2
  exit 2
fi
fail() { echo "packaging/deb/test.sh: FAILED: $*" >&2; exit 1; }

deb=$(bash packaging/deb/build.sh | tail -n1)
echo "built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$work" /srv/tftp/cnfkit-package-test.cnf.xml
  dpkg -P cnf-server >/dev/null 2>&1 || true
}
trap cleanup EXIT

dpkg -i "$deb"
getent passwd cnfkit >/dev/null || fail "no user cnfkit after install"
[ -x /usr/bin/cnf-server ] || fail "no /usr/bin/cnf-server"
[ -f /etc/cnfkit/server.toml ] || fail "no /etc/cnfkit/server.toml"
[ "$(stat -c %U /var/lib/cnfkit)" = cnfkit ] || fail "/var/lib/cnfkit is not the user's"
systemd-analyze verify /lib/systemd/system/cnf-server.service \
  || fail "systemd-analyze verify refuses the unit"
/usr/bin/cnf-server --version >/dev/null 2>&1 || /usr/bin/cnf-server --help >/dev/null \
  || fail "the installed binary does not run"

# Serve a file of the installed tree with the installed config (on loopback ports: the config's
# own are every address), started as root and running as cnfkit, as the unit would.
printf '<device><loadInformation></loadInformation></device>\n' \
  > /srv/tftp/cnfkit-package-test.cnf.xml
chmod 0644 /srv/tftp/cnfkit-package-test.cnf.xml
ports=(16969 16970 16980)
/usr/bin/cnf-server check --config /etc/cnfkit/server.toml --bind "127.0.0.1:${ports[0]}" \
  --http "127.0.0.1:${ports[1]}" --admin "127.0.0.1:${ports[2]}" \
  || fail "cnf-server check refuses the installed config"
/usr/bin/cnf-server --config /etc/cnfkit/server.toml --user cnfkit \
  --bind "127.0.0.1:${ports[0]}" --http "127.0.0.1:${ports[1]}" --admin "127.0.0.1:${ports[2]}" \
  >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 100); do
  grep -q "running as cnfkit" "$work/out" 2>/dev/null && break
  sleep 0.1
done
grep -q "running as cnfkit" "$work/out" || { cat "$work/out" "$work/err"; fail "did not start"; }
[ "$(ps -o user= -p "$server" | tr -d ' ')" = cnfkit ] || fail "not running as cnfkit"
curl -sf -o "$work/tftp" "tftp://127.0.0.1:${ports[0]}/cnfkit-package-test.cnf.xml" \
  || fail "TFTP fetch"
curl -sf -o "$work/http" "http://127.0.0.1:${ports[1]}/cnfkit-package-test.cnf.xml" \
  || fail "HTTP fetch"
cmp "$work/tftp" /srv/tftp/cnfkit-package-test.cnf.xml || fail "TFTP bytes differ"
cmp "$work/http" /srv/tftp/cnfkit-package-test.cnf.xml || fail "HTTP bytes differ"
kill -HUP "$server"
for _ in $(seq 50); do grep -q "SIGHUP: reloaded" "$work/out" && break; sleep 0.1; done
grep -q "SIGHUP: reloaded" "$work/out" || { cat "$work/out" "$work/err"; fail "no reload"; }
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
echo "served as cnfkit, reloaded, stopped: ok"

rm -f /srv/tftp/cnfkit-package-test.cnf.xml
dpkg -r cnf-server
[ ! -e /usr/bin/cnf-server ] || fail "/usr/bin/cnf-server left after remove"
[ ! -e /lib/systemd/system/cnf-server.service ] || fail "the unit left after remove"
[ -f /etc/cnfkit/server.toml ] || fail "the conffile must stay until purge"
dpkg -P cnf-server
[ ! -e /etc/cnfkit/server.toml ] || fail "/etc/cnfkit/server.toml left after purge"
[ ! -e /var/lib/cnfkit ] || fail "/var/lib/cnfkit left after purge"
dpkg -s cnf-server >/dev/null 2>&1 && fail "still known to dpkg after purge"
echo "packaging/deb/test.sh: ok"
