#!/usr/bin/env bash
# Installs what the browser test needs (Debian's chromium and chromium-driver, the same
# version) unless present, and prints the export line that enables the test:
#   eval "$(scripts/test-browser.sh)"
# Idempotent; needs root for apt-get.
set -euo pipefail
log() { echo "test-browser: $*" >&2; }
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  log "installing chromium and chromium-driver"
  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1) \
    || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }
fi
log "$(chromium --version 2>/dev/null || echo 'chromium: unknown version'), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
echo "export TICKETCORE_TEST_CHROMEDRIVER=$(command -v chromedriver)"
