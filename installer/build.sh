#!/usr/bin/env bash
# Build the self-contained one-folder desktop bundle for this platform and
# self-test it outside the project's virtual environment.
#
#   installer/build.sh            -> dist/MedAdvDesktop/ and dist/MedAdvDesktop-<os>-<arch>.tar.gz
#
# Not part of .ci/run (it takes several minutes and ~1 GB of disk).
set -euo pipefail
cd "$(dirname "$0")/.."
./quickstart.sh setup
PYI_VERSION=6.22.3
.venv/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt "pyinstaller==$PYI_VERSION"
rm -rf build/pyinstaller dist/MedAdvDesktop
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/medadv_desktop.spec
echo "[installer] bundle size: $(du -sh dist/MedAdvDesktop | cut -f1)"
echo "[installer] self-test (clean environment, no venv on PATH, offscreen)"
env -i HOME="${HOME:-/tmp}" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen \
  dist/MedAdvDesktop/MedAdvDesktop --self-test
os=$(uname -s | tr '[:upper:]' '[:lower:]'); arch=$(uname -m)
tar czf "dist/MedAdvDesktop-$os-$arch.tar.gz" -C dist MedAdvDesktop
echo "[installer] archive: dist/MedAdvDesktop-$os-$arch.tar.gz ($(du -sh "dist/MedAdvDesktop-$os-$arch.tar.gz" | cut -f1))"
