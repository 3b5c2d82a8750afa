#!/usr/bin/env bash
# Installs the peers the benchmark compares against (Debian packages), and says which could not be installed.
set -u
want=()
command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q GNU || want+=(parallel)
command -v pdsh >/dev/null 2>&1 || want+=(pdsh)
command -v parallel-ssh >/dev/null 2>&1 || command -v pssh >/dev/null 2>&1 || want+=(pssh)
command -v clush >/dev/null 2>&1 || want+=(clustershell)
command -v tmux >/dev/null 2>&1 || want+=(tmux)
[ -x /usr/bin/time ] || want+=(time)
if [ ${#want[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null || echo "bench: could not install: ${want[*]}" >&2
fi
