#!/usr/bin/env bash
# Builds the cnf-server Debian package: target/debian/cnf-server_<version>_<arch>.deb
#
#   bash packaging/deb/build.sh
#
# It holds /usr/bin/cnf-server (release build, signing through the system's OpenSSL), the
# commented /etc/cnfkit/server.toml (a conffile), the hardened unit
# /lib/systemd/system/cnf-server.service, and scripts that create the user cnfkit at install.
# Needs cargo, dpkg-deb and libssl-dev (peers/install.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=packaging/deb
version=$(sed -n 's/^version = "\(.*\)"/\1/p' crates/server/Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
target_dir=${CARGO_TARGET_DIR:-target}

cargo build --release --locked -p cnfkit-server --bin cnf-server --features openssl
binary="$target_dir/release/cnf-server"

stage="$target_dir/debian/cnf-server_${version}_${arch}"
rm -rf "$stage"
install -D -m 0755 "$binary" "$stage/usr/bin/cnf-server"
strip --strip-unneeded "$stage/usr/bin/cnf-server"
install -d -m 0755 "$stage/etc/cnfkit"
cat "$here/server.toml.head" docs/server.toml > "$stage/etc/cnfkit/server.toml"
chmod 0644 "$stage/etc/cnfkit/server.toml"
install -D -m 0644 "$here/cnf-server.service" "$stage/lib/systemd/system/cnf-server.service"
doc="$stage/usr/share/doc/cnf-server"
install -D -m 0644 README.md "$doc/README.md"
for page in install config-file security tftp admin; do
  install -m 0644 "docs/$page.md" "$doc/$page.md"
done
install -m 0644 docs/server.toml "$doc/server.toml"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: cnfkit"
  echo "Source: https://github.com/cnfkit/cnfkit"
  echo
  echo "Files: *"
  echo "Copyright: The cnfkit developers"
  echo "License: MIT or Apache-2.0"
} > "$doc/copyright"

# The shared libraries the binary links, as the packages that hold them (by the path ldd gives,
# or by its real path on a merged /usr).
depends=$(
  for lib in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || true
  done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g'
)
install -d -m 0755 "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: cnf-server
Version: $version
Architecture: $arch
Maintainer: The cnfkit developers <cnfkit@users.noreply.github.com>
Depends: ${depends:+$depends, }passwd
Section: net
Priority: optional
Homepage: https://github.com/cnfkit/cnfkit
Installed-Size: $(du -sk "$stage" | cut -f1)
Description: provisioning server for Cisco IP phones (TFTP, HTTP, HTTPS)
 Serves trust lists, SEP<MAC>.cnf.xml with the XMLDefault fallback, signed
 configurations and firmware to Cisco IP phones over TFTP, HTTP and HTTPS, with a
 registry of which phones booted and why one is stuck.
CONTROL
echo /etc/cnfkit/server.toml > "$stage/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$stage/DEBIAN/"

dpkg-deb --root-owner-group --build "$stage" "$target_dir/debian/" >/dev/null
echo "$target_dir/debian/cnf-server_${version}_${arch}.deb"
