#!/bin/sh
# Install Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium;
# `playwright install` is never used). Idempotent: does nothing when chromium is present.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: /usr/bin/chromium is missing and we are not root (no sudo);" >&2
        echo "  run: apt-get update && apt-get install -y --no-install-recommends chromium" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
