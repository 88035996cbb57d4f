#!/usr/bin/env bash
# Debian packages the project needs, installed quietly (apt's output goes to .venv/apt.log and is
# shown only when the install fails).
#   runtime: espeak-ng (speech for `tflipsync synth`, the synthetic corpus)
#   test:    also alsa-utils (real recorded speech, /usr/share/sounds/alsa/*.wav, for the tests)
#   browser: also chromium (the web app's browser test drives it headless) and, where node is
#            missing, nodejs and npm (the app's build)
set -euo pipefail
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ "${1:-runtime}" = test ]; then
  [ -f /usr/share/sounds/alsa/Front_Center.wav ] || missing+=(alsa-utils)
fi
if [ "${1:-runtime}" = browser ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
mkdir -p .venv
log=.venv/apt.log
echo "installing Debian packages: ${missing[*]} (log: $log)"
if ! { $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
       || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; } >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
