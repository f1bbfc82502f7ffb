# Shared by ./run-app and ./run-tests: create .venv once, reinstall when pyproject.toml changes.
VENV="${UDAP_ONBOARD_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

ensure_venv() {
    extras="${1:-}"
    stamp="$VENV/.installed-${extras:-app}"
    if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
        return 0
    fi
    if [ -z "$extras" ] && [ -x "$VENV/bin/python" ]; then  # any install with extras includes the app
        for other in "$VENV"/.installed-*; do
            if [ -f "$other" ] && [ "$other" -nt pyproject.toml ]; then
                return 0
            fi
        done
    fi
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "python3 was not found. Install it first: sudo apt-get install -y python3 python3-venv" >&2
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            echo "Could not create a virtual environment: python3-venv is missing." >&2
            echo "Install it with: sudo apt-get install -y python3-venv   then run this command again." >&2
            exit 1
        fi
    fi
    echo "Setting up $VENV (${extras:-app}); the first time takes a minute or two..." >&2
    log="$VENV/install.log"
    target="."
    [ -n "$extras" ] && target=".[$extras]"
    # pip and the build backend are chatty (editable-install notices); show their output only on failure.
    if ! { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip &&
           "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "Installing the Python packages failed (full output above, also in $log)." >&2
        echo "Check the network connection or proxy settings, then run this command again." >&2
        exit 1
    fi
    touch "$stamp"
}
