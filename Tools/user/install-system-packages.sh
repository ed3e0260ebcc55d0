#!/usr/bin/env bash
# Installs the C libraries CapsKit links against (Debian/Ubuntu): libhdf5-dev, libpng-dev, zlib1g-dev,
# pkg-config, plus any Debian package named on the command line (.ci/run: clang-format).
#   bash Tools/user/install-system-packages.sh [extra-package ...]
# Runs apt-get update first on a machine that lacks any of them; does nothing when all are present.
set -euo pipefail
packages=(libhdf5-dev libpng-dev zlib1g-dev pkg-config "$@")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
