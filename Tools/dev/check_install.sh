#!/usr/bin/env bash
# The install, checked as a user without a Swift toolchain would meet it (CI runs it once, after the
# test suite; the release build is its cost):
#
#     bash Tools/dev/check_install.sh
#
# Installs with Tools/user/install.sh into a temporary prefix, then, for the installed tools:
# no shared library from the Swift toolchain (ldd, NEEDED), --version with this commit, a fixture
# PNG classified as PyTorch classifies it (Fixtures/digits/expected.csv) from / with `env -i`, the
# same with the toolchain folder hidden (a private mount namespace; skipped where unshare is not
# permitted), the prefix moved elsewhere (capsinfer finds its model relative to itself), man pages
# rendering with `man -M PREFIX/share/man` and found through PATH, bash completions answering, zsh
# and fish scripts parsing (when those shells exist); then the release tarball, unpacked and run
# the same way. Prints 'N passed, N failed'; exit 1 on any failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/capskit-install-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # check NAME COMMAND...: runs COMMAND, counts and reports the result
  local name="$1"; shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1)); echo "ok    $name"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      /' "$work/out" | head -20
  fi
}

bash Tools/user/install-system-packages.sh man-db   # man, to render the installed pages

prefix="$work/prefix"
bash Tools/user/install.sh --prefix "$prefix"

toolchain="$(cd "$(dirname "$(readlink -f "$(command -v swiftc)")")/../.." && pwd)"  # /opt/swift
commit="$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD -- || commit="$commit-dirty"
digit="$root/Fixtures/digits/d8001_gray8.png"
expected="$(awk -F, '$1 == "d8001_gray8.png" { print $10 }' Fixtures/digits/expected.csv)"
[ -n "$expected" ] || { echo "no expected prediction for d8001_gray8.png"; exit 1; }

no_toolchain_libraries() { # the tool needs no library of the toolchain and no missing one
  env -i /usr/bin/ldd "$1" | tee /dev/stderr | { ! grep -E "not found|$toolchain" >/dev/null; }
  ! readelf -d "$1" | grep NEEDED | grep -E "libswift|libFoundation|libdispatch|libBlocksRuntime|lib_Foundation"
}
version_is() { # version_is TOOL BINARY
  local line; line="$(cd / && env -i "$2" --version)"; echo "$line"
  [[ "$line" =~ ^$1\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ $commit\)$ ]]
}
classifies() { # classifies CAPSINFER: the fixture digit's class as PyTorch predicts it, from /
  local row; row="$(cd / && env -i "$1" --format csv "$digit" | tail -n 1)"; echo "$row"
  [ "$(echo "$row" | cut -d, -f2)" = "$expected" ]
}
hidden_toolchain() { # the same with the toolchain folder replaced by an empty one
  unshare --mount --propagation private sh -c \
    "mount -t tmpfs none '$toolchain' && ! ls '$toolchain/usr' 2>/dev/null && cd / && env -i '$1' --format csv '$digit'" \
    | tee /dev/stderr | tail -n 1 | cut -d, -f2 | grep -x "$expected" >/dev/null
}
man_renders() { # man_renders TOOL WORD: the page renders and mentions WORD
  env -i PATH=/usr/bin:/bin MANPAGER=cat man -M "$prefix/share/man" "$1" | tee /dev/stderr | grep -- "$2" >/dev/null
}
man_found_through_path() {
  [ "$(env -i PATH="$prefix/bin:/usr/bin:/bin" man -w capsinfer)" = "$prefix/share/man/man1/capsinfer.1" ]
}
bash_completes() { # bash_completes TOOL WORDS... EXPECTED: the completions of the last word hold EXPECTED
  local tool="$1" expected="${!#}"
  local words=("${@:2:$#-2}")
  env -i bash --norc --noprofile -c '
    source "$0"; COMP_WORDS=("${@}"); COMP_CWORD=$(($# - 1)); COMP_LINE="${*}"; COMP_POINT=${#COMP_LINE}
    "_$(basename "$0")" "$1" "${@: -1}" "${@: -2:1}"; printf "%s\n" "${COMPREPLY[@]}"' \
    "$prefix/share/bash-completion/completions/$tool" "$tool" "${words[@]}" | tee /dev/stderr | grep -x -- "$expected" >/dev/null
}

for tool in capsconv capsinfer; do
  check "$tool needs no toolchain library (ldd, NEEDED)" no_toolchain_libraries "$prefix/bin/$tool"
  check "$tool --version from / with env -i: the version and commit $commit" version_is "$tool" "$prefix/bin/$tool"
done
check "capsinfer from / with env -i classifies d8001_gray8.png as PyTorch does ($expected)" classifies "$prefix/bin/capsinfer"
if unshare --mount --propagation private true 2>/dev/null; then
  check "capsinfer with $toolchain hidden classifies d8001_gray8.png ($expected)" hidden_toolchain "$prefix/bin/capsinfer"
else
  echo "skip  capsinfer with $toolchain hidden (unshare --mount is not permitted here)"
fi
mv "$prefix" "$work/moved"
check "capsinfer finds its model after the prefix is moved" classifies "$work/moved/bin/capsinfer"
mv "$work/moved" "$prefix"
check "man -M PREFIX/share/man capsinfer renders (--top-k)" man_renders capsinfer "top-k"
check "man -M PREFIX/share/man capsconv renders (bench)" man_renders capsconv "bench"
check "man finds capsinfer.1 through PATH alone" man_found_through_path
check "bash completion: capsconv be<TAB> offers bench" bash_completes capsconv be bench
check "bash completion: capsinfer --preprocess <TAB> offers scale" bash_completes capsinfer --preprocess "" scale
for shell in zsh fish; do
  if command -v "$shell" >/dev/null; then
    for tool in capsconv capsinfer; do
      file="$prefix/share/zsh/site-functions/_$tool"
      [ "$shell" = zsh ] || file="$prefix/share/fish/vendor_completions.d/$tool.fish"
      check "$shell parses $(basename "$file")" "$shell" -n "$file"
    done
  else
    echo "skip  $shell completions parse ($shell is not installed)"
  fi
done

# The release tarball: same build (no rebuild), unpacked elsewhere, run from / with env -i.
bash Tools/user/release-tarball.sh --output-dir "$work/dist" >/dev/null
tarball="$(ls "$work"/dist/capskit-*-linux-*.tar.gz)"
tar_lists() {
  tar -tzf "$tarball" | tee /dev/stderr | sed 's|^[^/]*/||' | sort >"$work/listing"
  for entry in bin/capsconv bin/capsinfer share/capskit/standard.h5 share/man/man1/capsconv.1 \
    share/man/man1/capsinfer.1 share/bash-completion/completions/capsinfer share/zsh/site-functions/_capsinfer \
    share/fish/vendor_completions.d/capsinfer.fish README.md; do
    grep -qx "$entry" "$work/listing" || { echo "missing: $entry"; return 1; }
  done
}
check "$(basename "$tarball") holds bin/, share/capskit, share/man, completions, README.md" tar_lists
mkdir -p "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked"
check "the unpacked tarball's capsinfer classifies from / with env -i" classifies "$(ls -d "$work"/unpacked/*/)bin/capsinfer"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
