#!/usr/bin/env bash
# Installs capsconv and capsinfer under a prefix (README, "Install"):
#
#     bash Tools/user/install.sh --prefix ~/.local
#
# Builds both tools in release with the Swift runtime and Foundation linked statically
# (--static-swift-stdlib), so the installed tools need no Swift toolchain, only C libraries
# (capsinfer: libpng, zlib; capsconv: libhdf5, zlib; Debian: libpng16-16, libhdf5-103-1, zlib1g,
# libstdc++6), and installs:
#   PREFIX/bin/capsconv, PREFIX/bin/capsinfer
#   PREFIX/share/capskit/standard.h5        the built-in model (capsinfer looks in ../share/capskit)
#   PREFIX/share/man/man1/capsconv.1, capsinfer.1 (swift-argument-parser's generate-manual)
#   PREFIX/share/bash-completion/completions/{capsconv,capsinfer}
#   PREFIX/share/zsh/site-functions/{_capsconv,_capsinfer}
#   PREFIX/share/fish/vendor_completions.d/{capsconv,capsinfer}.fish
# The tools report the git commit they were built from in --version ("unknown" outside a git
# checkout, "-dirty" appended when tracked files differ from it). Every file is written beside its
# destination and renamed into place, so a running capsinfer can be replaced.
#
# Options:
#   --prefix DIR           where to install (default: ~/.local)
#   --scratch-path DIR     SwiftPM build folder (default: .build-install, kept apart from .build so
#                          neither rebuilds the other)
#   --no-system-packages   do not check for (and apt-get) the C libraries the build needs
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="$HOME/.local"
scratch="$root/.build-install"
system_packages=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --scratch-path) scratch="${2:?--scratch-path needs a directory}"; shift 2 ;;
    --no-system-packages) system_packages=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
done
[ -n "$prefix" ] || { echo "install.sh: --prefix is empty" >&2; exit 64; }
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
cd "$root"

if [ "$system_packages" = 1 ]; then
  bash "$root/Tools/user/install-system-packages.sh"
fi

# The commit, passed to the C target CCapsBuildInfo as a macro (no build plugin, no network).
commit=unknown
if git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1; then
  commit="$(git -C "$root" rev-parse --short=12 HEAD)"
  git -C "$root" diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
fi
build=(swift build -c release --static-swift-stdlib --scratch-path "$scratch"
  -Xcc "-DCAPSKIT_GIT_COMMIT=\"$commit\"")
echo "building capsconv and capsinfer (release, static Swift runtime, commit $commit)"
"${build[@]}" --product capsconv
"${build[@]}" --product capsinfer
bin="$("${build[@]}" --show-bin-path)"

# Copies $1 to $2 through a temporary file in $2's folder and a rename.
place() {
  local mode="$1" source="$2" target="$3"
  mkdir -p "$(dirname "$target")"
  local temporary
  temporary="$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")"
  cp "$source" "$temporary"
  chmod "$mode" "$temporary"
  mv -f "$temporary" "$target"
}

# Writes the output of a command to $2 the same way.
place_output() {
  local target="$1"; shift
  mkdir -p "$(dirname "$target")"
  local temporary
  temporary="$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")"
  "$@" >"$temporary"
  chmod 644 "$temporary"
  mv -f "$temporary" "$target"
}

# The executables without their debug information (about 60 MB each then, most of it the Unicode
# data of the statically linked Foundation), when binutils' strip is there.
for tool in capsconv capsinfer; do
  if command -v strip >/dev/null; then
    strip -o "$scratch/$tool.stripped" "$bin/$tool"
    place 755 "$scratch/$tool.stripped" "$prefix/bin/$tool"
  else
    place 755 "$bin/$tool" "$prefix/bin/$tool"
  fi
done
place 644 "$root/Fixtures/models/standard.h5" "$prefix/share/capskit/standard.h5"

# Man pages: the generator of swift-argument-parser's generate-manual plugin, run on the installed
# tools. The plugin itself (`swift package plugin generate-manual`) rebuilds the whole package
# without --static-swift-stdlib, which `swift package` does not take: a second release build.
# Built with the same flags, the tool reuses ArgumentParser's objects. The date is the commit's, so
# one commit gives the same pages.
"${build[@]}" --product generate-manual
date="$(git -C "$root" log -1 --format=%cs 2>/dev/null || date -u +%F)"
pages="$(mktemp -d "$scratch/man.XXXXXX")"
for tool in capsconv capsinfer; do
  "$bin/generate-manual" "$prefix/bin/$tool" --date "$date" --output-directory "$pages"
  place 644 "$pages/$tool.1" "$prefix/share/man/man1/$tool.1"
done
rm -rf "$pages"

for tool in capsconv capsinfer; do
  place_output "$prefix/share/bash-completion/completions/$tool" \
    "$prefix/bin/$tool" --generate-completion-script bash
  place_output "$prefix/share/zsh/site-functions/_$tool" "$prefix/bin/$tool" --generate-completion-script zsh
  place_output "$prefix/share/fish/vendor_completions.d/$tool.fish" \
    "$prefix/bin/$tool" --generate-completion-script fish
done

echo "installed $("$prefix/bin/capsconv" --version) under $prefix:"
echo "  $prefix/bin/capsconv, $prefix/bin/capsinfer"
echo "  $prefix/share/capskit/standard.h5 (capsinfer's built-in model)"
echo "  $prefix/share/man/man1/capsconv.1, capsinfer.1"
echo "  completions for bash, zsh and fish under $prefix/share"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "add $prefix/bin to PATH (man and bash-completion then find the pages and completions)" ;;
esac
