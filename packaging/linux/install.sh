#!/bin/sh
# Install DesktopChat from this folder, for you alone (no root needed):
#   ./install.sh            into ~/.local (the app in ~/.local/share/desktopchat)
#   sudo ./install.sh --system   for everyone: /opt/desktopchat and /usr/local
# It adds DesktopChat to the applications menu, with its icon, its AppStream metadata and
# the .gguf file type (double-click a model to import it). ./uninstall.sh removes it.
set -eu
APP_ID=io.github.desktopchat.DesktopChat
here="$(cd "$(dirname "$0")" && pwd)"
if [ "${1:-}" = "--system" ]; then
  app_dir=/opt/desktopchat
  share=/usr/local/share
  bin=/usr/local/bin
else
  share="${XDG_DATA_HOME:-$HOME/.local/share}"
  app_dir="$share/desktopchat"
  bin="$HOME/.local/bin"
fi
if [ ! -x "$here/desktopchat" ]; then
  echo "install.sh: run it from the unpacked DesktopChat folder" >&2
  exit 1
fi
echo "Installing DesktopChat into $app_dir"
rm -rf "$app_dir.new"
mkdir -p "$app_dir.new" "$bin" "$share/applications" "$share/metainfo" "$share/mime/packages"
cp -a "$here/desktopchat" "$here/_internal" "$here/LICENSE.txt" \
  "$here/THIRD-PARTY-NOTICES.txt" "$here/uninstall.sh" "$app_dir.new/"
rm -rf "$app_dir"
mv "$app_dir.new" "$app_dir"
ln -sf "$app_dir/desktopchat" "$bin/desktopchat"
cp -R "$here/share/icons/." "$share/icons/"
cp "$here/share/metainfo/$APP_ID.metainfo.xml" "$share/metainfo/"
cp "$here/share/mime/packages/$APP_ID.xml" "$share/mime/packages/"
sed "s|^Exec=desktopchat|Exec=\"$app_dir/desktopchat\"|" \
  "$here/share/applications/$APP_ID.desktop" > "$share/applications/$APP_ID.desktop"
# Refresh the caches the desktop reads (each tool is optional).
command -v update-mime-database >/dev/null && update-mime-database "$share/mime" || true
command -v update-desktop-database >/dev/null && update-desktop-database "$share/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
echo "DesktopChat is in your applications menu. From a terminal: $bin/desktopchat"
case ":$PATH:" in *":$bin:"*) ;; *) echo "($bin is not on your PATH.)" ;; esac
