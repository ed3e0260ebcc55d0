#!/usr/bin/env bash
# Builds the release tarball capskit-VERSION-linux-ARCH.tar.gz (ARCH from uname -m: x86_64 here):
#
#     bash Tools/user/release-tarball.sh [--output-dir DIR]      (default: Tools/work/dist)
#
# It holds one folder, capskit-VERSION-linux-ARCH/, laid out as an install prefix (what
# Tools/user/install.sh writes): bin/capsconv, bin/capsinfer (Swift runtime linked statically),
# share/capskit/standard.h5, share/man/man1/*.1, share/bash-completion, share/zsh, share/fish, and
# README.md. Unpack it anywhere (capsinfer finds its model relative to itself), or into a prefix:
# tar -xzf capskit-*.tar.gz -C ~/.local --strip-components=1. VERSION is what `capsconv --version`
# reports. File order, owners and times are fixed (the commit's time), so one commit gives one
# archive.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
output="$root/Tools/work/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --output-dir) output="${2:?--output-dir needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "release-tarball.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
done
stage="$(mktemp -d "${TMPDIR:-/tmp}/capskit-release.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
bash "$root/Tools/user/install.sh" --prefix "$stage/prefix"
version="$("$stage/prefix/bin/capsconv" --version | awk '{ print $2 }')"
name="capskit-$version-linux-$(uname -m)"
mv "$stage/prefix" "$stage/$name"
cp "$root/README.md" "$stage/$name/README.md"
mtime="@$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)"
mkdir -p "$output"
temporary="$(mktemp "$output/.$name.tar.gz.XXXXXX")"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" -C "$stage" -cf - "$name" | gzip -n -9 >"$temporary"
chmod 644 "$temporary"
mv -f "$temporary" "$output/$name.tar.gz"
echo "wrote $output/$name.tar.gz ($(du -h "$output/$name.tar.gz" | cut -f1))"
