#!/usr/bin/env bash
# Build the self-contained one-folder desktop bundle for this platform, self-test
# it outside the project's virtual environment, and pack it.
#
#   installer/build.sh             -> dist/MedAdvDesktop/ (run dist/MedAdvDesktop/MedAdvDesktop)
#                                     dist/MedAdvDesktop-<os>-<arch>.tar.gz
#   installer/build.sh --quick     reuse PyInstaller's cache in build/pyinstaller (faster rebuilds)
#   installer/build.sh --no-test   skip the self-test
#
# Not part of .ci/run: it takes several minutes on a 2-core machine and ~2 GB of
# disk (see installer/README.md). Offline once the venv exists (./quickstart.sh setup
# needs the package index the first time; PyInstaller is installed into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
CLEAN=--clean
SELFTEST=1
for arg in "$@"; do
  case "$arg" in
    --quick) CLEAN= ;;
    --no-test) SELFTEST=0 ;;
    *) echo "usage: installer/build.sh [--quick] [--no-test]" >&2; exit 2 ;;
  esac
done
t0=$(date +%s)
./quickstart.sh setup
PYI_VERSION=6.22.3
if ! .venv/bin/python -c "import PyInstaller, sys; sys.exit(PyInstaller.__version__ != '$PYI_VERSION')" 2>/dev/null; then
  echo "[installer] installing PyInstaller $PYI_VERSION into .venv"
  .venv/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt "pyinstaller==$PYI_VERSION"
fi
for f in resources/demo_study/labels.csv resources/demo_model/model_card.json; do
  [ -f "$f" ] || { echo "[installer] error: $f is missing; the bundle needs the demo study and model" >&2; exit 1; }
done
rm -rf dist/MedAdvDesktop
echo "[installer] running PyInstaller (a few minutes)"
# shellcheck disable=SC2086
.venv/bin/pyinstaller --noconfirm $CLEAN --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/medadv_desktop.spec
cp installer/install-desktop-entry.sh dist/MedAdvDesktop/
t1=$(date +%s)
echo "[installer] bundle: dist/MedAdvDesktop ($(du -sh dist/MedAdvDesktop | cut -f1)), built in $((t1 - t0)) s"
if [ "$SELFTEST" = 1 ]; then
  echo "[installer] self-test (clean environment, no venv on PATH, Qt offscreen)"
  env -i HOME="${HOME:-/tmp}" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 \
    dist/MedAdvDesktop/MedAdvDesktop --self-test
fi
os=$(uname -s | tr '[:upper:]' '[:lower:]'); arch=$(uname -m)
archive="dist/MedAdvDesktop-$os-$arch.tar.gz"
rm -f "$archive"
tar czf "$archive" -C dist MedAdvDesktop
echo "[installer] archive: $archive ($(du -sh "$archive" | cut -f1)); total $(( $(date +%s) - t0 )) s"
