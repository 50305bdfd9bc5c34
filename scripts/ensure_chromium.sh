#!/bin/sh
# Make headless Chromium available for the report browser test (tests/reports/test_browser.py).
#
#   sh scripts/ensure_chromium.sh
#
# Installs the Debian package `chromium` with apt-get when /usr/bin/chromium is missing and we are
# root; otherwise says why it did nothing. It never fails its caller (always exits 0): without a
# browser the browser test skips with a reason, and every other test still runs.

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "ensure_chromium: $CHROMIUM already installed"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_chromium: skipped: $CHROMIUM missing and not root (install the Debian package 'chromium' to run the browser test)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: skipped: $CHROMIUM missing and no apt-get on this system"
    exit 0
fi

echo "ensure_chromium: installing Debian package 'chromium' with apt-get"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq chromium >/dev/null; then
    echo "ensure_chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
    echo "ensure_chromium: apt-get could not install chromium; the browser test will be skipped"
fi
exit 0
