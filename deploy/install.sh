#!/bin/sh
# Installs vmrd as a systemd service. Safe to run again: the binary, the unit
# and the docs are replaced, the vmrd system user is made if missing, an
# existing /etc/vmrd/vmrd.yaml is never touched.
#
#   deploy/install.sh [BINARY]        BINARY defaults to bin/vmrd (make build)
#
# Environment:
#   DESTDIR     install under this root instead of / (packaging, tests); with
#               DESTDIR set, no user is made and systemctl is not run
#   PREFIX      where bin/ and share/doc/ go (default /usr/local; the unit's
#               ExecStart names /usr/local/bin/vmrd, so change both or neither)
#   SYSTEMCTL   the systemctl to run (default systemctl; "" or "true" skips it)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-bin/vmrd}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
if [ -n "$DESTDIR" ]; then
	SYSTEMCTL=${SYSTEMCTL-}
else
	SYSTEMCTL=${SYSTEMCTL-systemctl}
fi

die() { echo "install.sh: $*" >&2; exit 1; }

[ -f "$bin" ] && [ -x "$bin" ] || die "$bin is not an executable: run make build first, or name the binary"
for f in vmrd.service vmrd.sysusers vmrd.yaml.example README.md; do
	[ -f "$here/$f" ] || die "$here/$f is missing"
done
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
	die "run as root (or set DESTDIR to install into a staging root)"
fi

root=$DESTDIR
# install(1) writes to a temporary name and renames, so a running vmrd keeps
# its old binary until it restarts.
install -d -m 0755 "$root$PREFIX/bin" "$root/etc/systemd/system" "$root$PREFIX/share/doc/vmrd" "$root$PREFIX/lib/sysusers.d"
install -m 0755 "$bin" "$root$PREFIX/bin/vmrd"
install -m 0644 "$here/vmrd.sysusers" "$root$PREFIX/lib/sysusers.d/vmrd.conf"
install -m 0644 "$here/vmrd.service" "$root/etc/systemd/system/vmrd.service"
install -m 0644 "$here/README.md" "$root$PREFIX/share/doc/vmrd/README.md"
install -m 0644 "$here/vmrd.yaml.example" "$root$PREFIX/share/doc/vmrd/vmrd.yaml.example"
if [ -f "$here/grafana-dashboard.json" ]; then
	install -m 0644 "$here/grafana-dashboard.json" "$root$PREFIX/share/doc/vmrd/grafana-dashboard.json"
fi

# The vmrd user and group: the unit runs as them, the group reads the config.
group=
if [ -z "$DESTDIR" ]; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers "$PREFIX/lib/sysusers.d/vmrd.conf"
	elif ! getent passwd vmrd >/dev/null; then
		useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin vmrd
	fi
	group=vmrd
fi

# /etc/vmrd is systemd's ConfigurationDirectory. The file holds PIN hashes:
# readable by root and the vmrd group only.
install -d -m 0755 "$root/etc/vmrd"
if [ -e "$root/etc/vmrd/vmrd.yaml" ]; then
	echo "install.sh: keeping the existing $root/etc/vmrd/vmrd.yaml"
else
	install -m 0640 ${group:+-g "$group"} "$here/vmrd.yaml.example" "$root/etc/vmrd/vmrd.yaml"
	echo "install.sh: installed a sample $root/etc/vmrd/vmrd.yaml: edit it (rooms, addresses), then vmrd check-config it"
fi
[ -n "$group" ] || echo "install.sh: staging root: chgrp vmrd etc/vmrd/vmrd.yaml on the target (the service reads it through that group)"

if [ -n "$SYSTEMCTL" ] && [ "$SYSTEMCTL" != true ]; then
	if [ -d /run/systemd/system ]; then
		"$SYSTEMCTL" daemon-reload
		echo "install.sh: done. Start with: systemctl enable --now vmrd (a running vmrd takes a new binary at systemctl restart vmrd)"
	else
		echo "install.sh: systemd is not running here; skipped systemctl daemon-reload"
	fi
else
	echo "install.sh: installed under ${root:-/}; systemctl skipped"
fi
