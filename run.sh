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

if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    echo "galhalo: installing into $venv (first run only)" >&2
    # Corrfunc (pair counts) compiles against GSL.
    if ! { command -v gsl-config >/dev/null || dpkg -s libgsl-dev >/dev/null 2>&1; }; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq libgsl-dev >/dev/null
        else
            echo "galhalo: Corrfunc needs the GSL headers: run 'sudo apt-get install -y" \
                 "libgsl-dev' (or 'brew install gsl'), then run this again" >&2
            exit 1
        fi
    fi
    "$python" -m venv "$venv"
    # The CPU build of torch must come first and exactly pinned: anything looser
    # makes pip fetch a multi-GB CUDA build.
    "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
    "$venv/bin/python" -m pip install --quiet -e "$here[dev]"
    touch "$stamp"
fi

if [ "${1:-}" = "test" ]; then
    shift
    cd "$here"
    exec "$venv/bin/python" -m pytest "$@"
fi
exec "$venv/bin/galhalo" "$@"
