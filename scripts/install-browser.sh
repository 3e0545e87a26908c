#!/bin/sh
# Debian's Chromium for the browser tests: a system package, never a browser download.
# Needs apt-get and root (or password-less sudo); without them the browser tests skip,
# unless FMNIST_REQUIRE_BROWSER=1 (as in CI) makes a missing browser a failure.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
if command -v apt-get >/dev/null 2>&1 && $SUDO true 2>/dev/null; then
    echo "Installing Debian's chromium for the browser tests..." >&2
    $SUDO apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null &&
        exit 0
fi
echo "note: chromium is not installed (needs apt-get and root); browser tests will skip" >&2
exit 0
