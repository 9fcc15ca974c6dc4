#!/usr/bin/env bash
# The npm packages the tests need (loaded into chromium, or run with node), pinned, fetched by
# `make test` before pytest runs (the tests never run npm themselves). Each goes to its own folder
# under .test-tools/ (git-ignored), named after package and version, and only when its file is missing.
# The tests look for exactly these paths: change a version here and in the test together.
#   @authgear/web            tests/test_authgear_web_sdk.py: Authgear's browser SDK, its <script>-tag build
#   configurable-http-proxy  tests/hub.py: JupyterHub's proxy (a Node program, run with the machine's node
#                            >= 20), for tests/test_hosted_hub.py's real JupyterHub
# (No Mermaid: tests/test_notebook_diagrams.py checks the diagrams in JupyterLab, which bundles its own.)
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.test-tools

install() {  # install <package> <version> <file inside the package>
  local package=$1 version=$2 file=$3
  local prefix="$TOOLS/${package//\//+}@$version"
  if [ -f "$prefix/node_modules/$package/$file" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-test-tools: npm is missing; the browser tests need $package@$version from npm." >&2
    echo "  Install Node.js 20 with npm (e.g. sudo apt-get install -y nodejs npm), then run make test again." >&2
    exit 1
  fi
  echo "Installing $package@$version for the tests into $prefix ..."
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    "$package@$version" >/dev/null
  if [ ! -f "$prefix/node_modules/$package/$file" ]; then
    echo "install-test-tools: npm installed $package@$version but $file is missing from it" >&2
    exit 1
  fi
}

install @authgear/web 6.0.0 dist/authgear-web.iife.js
install configurable-http-proxy 5.3.0 bin/configurable-http-proxy
