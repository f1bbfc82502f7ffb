#!/bin/sh
# Build the udap-onboard bundle with PyInstaller, then prove it works: check its libraries and run its
# --self-check offscreen (and, when gnome-keyring is installed, once more in a throwaway keyring).
# Usage: packaging/build.sh [onedir|onefile|both]      (default onedir; ONEFILE=1 means onefile)
# Results: dist/udap-onboard/udap-onboard (one-dir), dist/udap-onboard-<version> (one-file).
# Exit status: non-zero if the build, the library check or a self-check fails.
set -eu
cd "$(dirname "$0")/.."
. ./packaging/venv.sh
ensure_venv packaging

mode="${1:-}"
if [ -z "$mode" ]; then
    if [ "${ONEFILE:-}" = "1" ]; then mode=onefile; else mode=onedir; fi
fi
case "$mode" in
    onedir|onefile|both) ;;
    *) echo "usage: packaging/build.sh [onedir|onefile|both]" >&2; exit 2 ;;
esac

for tool in objdump strip readelf as ld; do  # PyInstaller, the ICU trim and check_bundle.py need them
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool was not found. Install binutils first: sudo apt-get install -y binutils" >&2
        exit 1
    fi
done

PY="$VENV/bin/python"
version=$("$PY" -c 'import app; print(app.__version__)')
scratch=$(mktemp -d "${TMPDIR:-/tmp}/udap-onboard-build.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

build() {  # $1 = onedir|onefile
    started=$(date +%s)
    if [ "$1" = onefile ]; then onefile=1; else onefile=0; fi
    echo "== building $1 (udap-onboard $version)"
    if ! ONEFILE=$onefile "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
            --distpath dist --workpath "build/pyinstaller-$1" packaging/udap-onboard.spec >"$scratch/build-$1.log" 2>&1; then
        cat "$scratch/build-$1.log" >&2
        echo "The PyInstaller build failed (log above)." >&2
        exit 1
    fi
    echo "   built in $(( $(date +%s) - started )) s"
}

self_check() {  # $1 = the executable
    # Offscreen, and never with a display: a keyring unlock prompt on a display would hang the check.
    env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=offscreen "$1" --self-check
}

keyring_check() {  # $1 = the executable; proves the bundled keyring backends reach a real Secret Service
    if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
        echo "   (skipped the Secret Service round trip: dbus-run-session or gnome-keyring-daemon is not installed)"
        return 0
    fi
    home="$scratch/keyring-home"; run="$scratch/keyring-run"
    mkdir -p "$home" "$run"; chmod 700 "$home" "$run"
    # shellcheck disable=SC2016  # expanded by the inner shell
    if ! env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS HOME="$home" XDG_RUNTIME_DIR="$run" \
            QT_QPA_PLATFORM=offscreen timeout 120 dbus-run-session -- sh -c \
            'eval "$(printf self-check | gnome-keyring-daemon --unlock --components=secrets)"; exec "$0" --self-check' \
            "$1" >"$scratch/keyring.out" 2>"$scratch/keyring.err"; then
        cat "$scratch/keyring.out" "$scratch/keyring.err" >&2
        echo "The self-check failed inside a throwaway keyring session." >&2
        exit 1
    fi
    if ! grep -q "via SecretService" "$scratch/keyring.out"; then
        cat "$scratch/keyring.out" >&2
        echo "The bundle did not use the Secret Service keyring: are keyring's backends and metadata bundled?" >&2
        exit 1
    fi
    grep "^ok    keyring" "$scratch/keyring.out"
}

verify() {  # $1 = onedir|onefile
    if [ "$1" = onedir ]; then target=dist/udap-onboard; exe=dist/udap-onboard/udap-onboard
    else target="dist/udap-onboard-$version"; exe="$target"; fi
    "$PY" packaging/check_bundle.py "$target"
    echo "== self-check of $exe"
    self_check "$exe"
    echo "== the same in a throwaway Secret Service session"
    keyring_check "$exe"
}

if [ "$mode" = onedir ] || [ "$mode" = both ]; then build onedir; verify onedir; fi
if [ "$mode" = onefile ] || [ "$mode" = both ]; then build onefile; verify onefile; fi
echo "== bundle OK"
