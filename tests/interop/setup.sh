#!/usr/bin/env bash
# Installs the npm packages the interop tests run with (tests/interop/node_modules, gitignored).
# The packages come from the npm registry by name, pinned by package-lock.json; nothing of theirs
# is committed. About 5 s and 8 MB. Without node/npm the interop tests skip and say why.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "interop setup: node/npm not found; tests/interop will be skipped (apt-get install nodejs npm)" >&2
    exit 0
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
    echo "interop setup: node $(node --version) is too old (need >= 18); tests/interop will be skipped" >&2
    exit 0
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
echo "interop setup: $(ls node_modules | wc -l) packages in $here/node_modules"
