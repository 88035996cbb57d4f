#!/usr/bin/env bash
# Debian packages the project needs: espeak-ng makes speech for the synthetic corpus and the tests;
# alsa-utils brings real recorded speech (/usr/share/sounds/alsa/*.wav) for the real-speech tests.
set -euo pipefail
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
[ -f /usr/share/sounds/alsa/Front_Center.wav ] || missing+=(alsa-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "${missing[@]}" \
  || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
