#!/usr/bin/env bash
# Installs the Debian packages vmrd needs to build, run and test, and only
# those that are missing. Safe to run again. Needs root (or sudo) when
# something is missing.
#
#   scripts/setup.sh          build and run dependencies
#   scripts/setup.sh --test   plus the real peers the tests talk to
set -euo pipefail

# Build: cgo to libopus (Opus), spandsp (G.722), FFmpeg's libavcodec
# (H.264 and VP8 decoding), openh264 and libvpx (encoding) and libyuv
# (scaling).
build_pkgs=(gcc libc6-dev pkg-config libopus-dev libspandsp-dev
	libavcodec-dev libavutil-dev libswscale-dev libopenh264-dev libvpx-dev libyuv-dev)
# Tests: sipp (package sip-tester) and baresip (with its FFmpeg modules for
# H.264 and file sources) are the real SIP peers; tshark checks on the wire
# that encrypted calls are encrypted; ffmpeg makes test pictures and
# decodes what vmrd sends; nginx with its RTMP (and stream, for RTMPS)
# modules receives large rooms' streams; systemd-analyze checks the unit;
# Debian's Chromium is the browser the WebRTC tests drive (with
# playwright-core from npm, installed below; never a downloaded browser);
# coturn is the TURN server browsers relay through.
test_pkgs=(sip-tester baresip-core baresip-ffmpeg tshark ffmpeg
	nginx libnginx-mod-rtmp libnginx-mod-stream systemd chromium coturn)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
	want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	sudo=""
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "setup: need root to install ${missing[*]}" >&2; exit 1; }
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The tests run their own nginx and coturn on loopback. Servers this
	# script installed must not stay up on every address of the machine.
	for svc in nginx coturn; do
		if [[ " ${missing[*]} " == *" $svc "* ]] && [[ -d /run/systemd/system ]]; then
			$sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
		fi
	done
fi

if ! command -v go >/dev/null; then
	echo "setup: Go is not installed. vmrd needs Go 1.26 or newer (see README)." >&2
	exit 1
fi

# The browser tests' driver: playwright-core at the version the lock file
# pins (Node.js 20 or newer with npm; Debian 12's own nodejs 18 is too old).
if [[ "${1:-}" == "--test" ]]; then
	browser="$(cd "$(dirname "$0")/.." && pwd)/internal/e2e/browser"
	if ! command -v npm >/dev/null; then
		echo "setup: npm is missing; the browser tests will skip (they need Node.js 20+ with npm)" >&2
	elif [[ ! "$browser/node_modules/.package-lock.json" -nt "$browser/package-lock.json" ]]; then
		echo "setup: installing the browser test driver (npm ci)"
		(cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi
