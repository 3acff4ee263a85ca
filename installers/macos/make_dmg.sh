#!/usr/bin/env bash
# The macOS disk image of GPT Group: the app bundle beside a link to /Applications, so that
# installing is dragging one onto the other.
#   pyinstaller --noconfirm --workpath build/pyinstaller build.spec   # dist/GPT Group.app
#   installers/macos/make_dmg.sh 0.1.0                                # dist/GPTGroup-0.1.0.dmg
# Needs macOS (hdiutil). The app is signed ad hoc by PyInstaller, not with a Developer ID:
# the first start is Control-click > Open (see the README). Built by
# .github/workflows/installers.yml on a macOS runner; not built on Linux.
set -euo pipefail
version="${1:?usage: make_dmg.sh VERSION}"
cd "$(dirname "$0")/../.."
app="dist/GPT Group.app"
[ -d "$app" ] || { echo "make_dmg.sh: no $app: run pyinstaller build.spec first" >&2; exit 1; }
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
hdiutil create -volname "GPT Group" -srcfolder "$staging" -fs HFS+ -format UDZO -ov \
  "dist/GPTGroup-$version.dmg"
echo "dist/GPTGroup-$version.dmg"
