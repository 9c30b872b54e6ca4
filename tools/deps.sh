#!/bin/sh
# Installs the Debian packages adminlog builds and tests against, only those missing
# (docker-registry and skopeo: the image rescan test runs a real registry on 127.0.0.1; clang:
# CI builds and tests with both compilers, `make test CC=clang`).
# Quiet and fast (one dpkg-query) when everything is already there.
set -eu

PKGS="${ADMINLOG_DEPS:-build-essential pkg-config liblmdb-dev libmsgpack-dev libsodium-dev \
libevent-dev libxxhash-dev libcmocka-dev libsqlite3-dev liboath-dev libcurl4-openssl-dev \
docker-registry skopeo clang}"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps: need root or sudo to install$missing" >&2; exit 1; }
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package index only when an install fails for lack of it.
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
	$SUDO apt-get update -q >/dev/null
	$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
