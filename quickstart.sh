#!/usr/bin/env bash
# MedAdv Desktop quick start: sets everything up, then launches or tests.
#
#   ./quickstart.sh demo      set up, then open the app on the bundled demo
#   ./quickstart.sh test      set up, then run the whole test suite (Qt offscreen)
#   ./quickstart.sh setup     set up only
#
# Set-up is idempotent: it creates .venv if needed and (re)installs only when
# pyproject.toml, constraints.txt or this script changed.
# GPU users: MEDADV_TORCH_INDEX=https://download.pytorch.org/whl/cu128 ./quickstart.sh demo
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${MEDADV_VENV:-.venv}
TORCH_VERSION=$(sed -n 's/^torch==//p' constraints.txt)

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[medadv] creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.medadv-setup-stamp"
  local want
  want=$(cat pyproject.toml constraints.txt quickstart.sh | sha256sum | cut -d' ' -f1)${MEDADV_TORCH_INDEX:-}
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  local pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
  echo "[medadv] installing torch $TORCH_VERSION"
  if [ -n "${MEDADV_TORCH_INDEX:-}" ]; then
    "${pip[@]}" "torch==$TORCH_VERSION" --index-url "$MEDADV_TORCH_INDEX"
  elif ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    "${pip[@]}" "torch==$TORCH_VERSION"
  fi
  echo "[medadv] installing MedAdv Desktop and its dependencies"
  "${pip[@]}" -c constraints.txt -e ".[test]"
  # torchattacks is a test oracle and benchmark peer only; its declared
  # requests pin would downgrade other packages, and its code never uses it.
  "${pip[@]}" --no-deps "torchattacks==3.5.1"
  echo "$want" > "$stamp"
}

cmd=${1:-demo}
shift || true
case "$cmd" in
  setup) setup ;;
  demo)
    setup
    exec "$VENV/bin/medadv-desktop" --demo "$@" ;;
  test)
    setup
    export QT_QPA_PLATFORM=offscreen
    exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: ./quickstart.sh [demo|test|setup] [args...]" >&2; exit 2 ;;
esac
