#!/usr/bin/env bash
# Add MedAdv Desktop to the Linux application menu (per user, no root needed).
#
#   ./install-desktop-entry.sh [BUNDLE_DIR]     install (BUNDLE_DIR: the folder holding MedAdvDesktop;
#                                               default: this script's folder, else dist/MedAdvDesktop)
#   ./install-desktop-entry.sh --uninstall      remove the menu entry and icons again
#
# Writes only MedAdv Desktop's own files:
#   ${XDG_DATA_HOME:-~/.local/share}/applications/medadv-desktop.desktop
#   ${XDG_DATA_HOME:-~/.local/share}/icons/hicolor/256x256/apps/medadv-desktop.png
#   ${XDG_DATA_HOME:-~/.local/share}/icons/hicolor/scalable/apps/medadv-desktop.svg
# and refuses to replace a file of that name that is not MedAdv Desktop's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
entry=$data/applications/medadv-desktop.desktop
png=$data/icons/hicolor/256x256/apps/medadv-desktop.png
svg=$data/icons/hicolor/scalable/apps/medadv-desktop.svg

refresh() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
}

ours() { [ ! -e "$1" ] || grep -q "^Name=MedAdv Desktop$" "$1"; }

if [ "${1:-}" = "--uninstall" ]; then
  ours "$entry" || { echo "error: $entry is not MedAdv Desktop's; left alone" >&2; exit 1; }
  rm -f "$entry" "$png" "$svg"
  refresh
  echo "MedAdv Desktop removed from the application menu (the bundle folder itself is untouched)."
  exit 0
fi

bundle=${1:-}
if [ -z "$bundle" ]; then
  if [ -x "$here/MedAdvDesktop" ]; then bundle=$here; else bundle=$here/../dist/MedAdvDesktop; fi
fi
[ -x "$bundle/MedAdvDesktop" ] || { echo "error: no MedAdvDesktop executable in '$bundle'; give the bundle folder" >&2; exit 1; }
bundle=$(cd "$bundle" && pwd)
if [ -d "$bundle/_internal/resources" ]; then res=$bundle/_internal/resources; else res=$here/../resources; fi
for f in "$res/medadv-desktop.desktop" "$res/icons/medadv-256.png" "$res/icons/medadv.svg"; do
  [ -f "$f" ] || { echo "error: '$f' is missing; rebuild or re-extract the bundle" >&2; exit 1; }
done
ours "$entry" || { echo "error: $entry exists and is not MedAdv Desktop's; move it away first" >&2; exit 1; }

mkdir -p "$(dirname "$entry")" "$(dirname "$png")" "$(dirname "$svg")"
cp "$res/icons/medadv-256.png" "$png"
cp "$res/icons/medadv.svg" "$svg"
tmp=$(mktemp "$(dirname "$entry")/.medadv-desktop.XXXXXX")
sed -e "s|^Exec=.*|Exec=\"$bundle/MedAdvDesktop\" %F|" -e "s|^Icon=.*|Icon=medadv-desktop|" \
  "$res/medadv-desktop.desktop" > "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$entry"
refresh
echo "MedAdv Desktop added to the application menu: $entry"
echo "  runs: $bundle/MedAdvDesktop"
