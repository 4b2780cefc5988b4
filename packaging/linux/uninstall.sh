#!/bin/sh
# Remove DesktopChat installed by install.sh (add --system for a system-wide install).
# Your conversations, settings and downloaded models are kept: they live in
# ~/.local/share/DesktopChat and ~/.config/DesktopChat; delete those to remove them too.
set -eu
APP_ID=io.github.desktopchat.DesktopChat
if [ "${1:-}" = "--system" ]; then
  app_dir=/opt/desktopchat share=/usr/local/share bin=/usr/local/bin
else
  share="${XDG_DATA_HOME:-$HOME/.local/share}"
  app_dir="$share/desktopchat" bin="$HOME/.local/bin"
fi
rm -rf "$app_dir"
[ -L "$bin/desktopchat" ] && rm -f "$bin/desktopchat"
rm -f "$share/applications/$APP_ID.desktop" "$share/metainfo/$APP_ID.metainfo.xml" \
  "$share/mime/packages/$APP_ID.xml"
find "$share/icons/hicolor" -name "$APP_ID.*" -delete 2>/dev/null || true
command -v update-mime-database >/dev/null && update-mime-database "$share/mime" || true
command -v update-desktop-database >/dev/null && update-desktop-database "$share/applications" || true
echo "DesktopChat was removed. Your conversations and models were kept."
