#!/usr/bin/env bash
# galhalo launcher: installs everything on first use (a virtual environment in .venv),
# then runs a galhalo command, or the test suite with `./run.sh test`.
#   ./run.sh demo            simulate the default universe, write catalog + figure
#   ./run.sh test            run the test suite (what CI runs)
#   ./run.sh <command> ...   any galhalo command, e.g. ./run.sh simulate --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${GALHALO_VENV:-$here/.venv}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp="$venv/.galhalo-installed"

# System packages: Corrfunc (pair counts) compiles against the GSL headers; the report's
# browser test renders the page in Debian's chromium (only `./run.sh test` asks for it:
# skipped without it, except in CI). Installed with one apt-get update and one apt-get
# install when running as root, and any failure stops here with apt-get's message.
#   system_packages yes|no    (yes: the browser too)
system_packages() {
    local missing=()
    if ! { command -v gsl-config >/dev/null || dpkg -s libgsl-dev >/dev/null 2>&1; }; then
        missing+=(libgsl-dev)
    fi
    if [ "$1" = yes ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
            && ! command -v google-chrome >/dev/null; then
        missing+=(chromium)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "galhalo: installing ${missing[*]} with apt-get" >&2
        if ! apt-get update -qq; then
            echo "galhalo: 'apt-get update' failed; cannot install ${missing[*]}" >&2
            exit 1
        fi
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        then
            echo "galhalo: 'apt-get install ${missing[*]}' failed (message above)" >&2
            exit 1
        fi
    elif [[ " ${missing[*]} " == *" libgsl-dev "* ]]; then
        echo "galhalo: Corrfunc needs the GSL headers: run 'sudo apt-get install -y" \
             "${missing[*]}' (or 'brew install gsl'), then run this again" >&2
        exit 1
    elif [ "${CI:-}" = true ]; then
        echo "galhalo: CI needs chromium for the report's browser test: run" \
             "'sudo apt-get install -y chromium' (or run as root), then run this again" >&2
        exit 1
    else
        echo "galhalo: no chromium: the report's browser test will be skipped" \
             "('sudo apt-get install -y chromium' to run it)" >&2
    fi
}

if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    echo "galhalo: installing into $venv (first run only)" >&2
    system_packages "$([ "${1:-}" = test ] && echo yes || echo no)"
    "$python" -m venv "$venv"
    # The CPU build of torch must come first and exactly pinned: anything looser
    # makes pip fetch a multi-GB CUDA build.
    "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
    "$venv/bin/python" -m pip install --quiet -e "$here[dev]"
    touch "$stamp"
fi

if [ "${1:-}" = "test" ]; then
    shift
    # The environment may have been installed by another command: the browser test
    # still wants chromium (a no-op when it is there).
    system_packages yes
    cd "$here"
    exec "$venv/bin/python" -m pytest "$@"
fi
exec "$venv/bin/galhalo" "$@"
