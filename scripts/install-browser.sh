#!/usr/bin/env bash
# Debian's chromium for the end-to-end tests (Playwright's own browser download does not
# work offline), and curl, which runs the curl commands the notebooks print. Installs only
# when missing; without root it says what to run instead.
set -euo pipefail
if [ -x /usr/bin/chromium ] && command -v curl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "install-browser: chromium or curl is missing and this user cannot install them." >&2
  echo "  Run: sudo apt-get install -y chromium curl   (the browser tests fail until then)" >&2
  exit 0
fi
echo "Installing Debian's chromium and curl for the browser tests..."
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core curl >/dev/null
/usr/bin/chromium --version
