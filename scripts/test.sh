#!/usr/bin/env bash
# Runs the ava suite (arguments go to ava). Before and after, it reaps the
# processes that an interrupted run left behind, as recorded in .run/pids/
# by test/helpers/pids.ts and by the daemon: one line "<pid> <cmd-fragment>
# [owner=<pid>]" per file. A process is signalled only when its cmdline still
# contains the fragment (or, without one, looks like redis-server/node/qemu),
# and never while its owner lives: that is a run still in progress.
#   scripts/test.sh --reap-only   just reaps (RAPID_PID_DIR overrides the dir)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PID_DIR=${RAPID_PID_DIR:-.run/pids}

# Running (not gone, not a zombie)?
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]]
}

# Sets $verdict for PID file $1: keep (owner alive), stale (remove the file),
# or kill (then $pid is set).
classify() {
  local frag='' rest='' cmd
  pid=''
  read -r pid frag rest <"$1" || true
  verdict=stale
  [[ $pid =~ ^[0-9]+$ ]] && ((pid > 1 && pid != $$ && pid != PPID)) || return 0
  if [[ $rest =~ owner=([0-9]+) ]] && alive "${BASH_REMATCH[1]}"; then
    verdict=keep
    return 0
  fi
  alive "$pid" || return 0
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 0
  if [[ -n $frag ]]; then
    [[ $cmd == *"$frag"* ]] || return 0
  else
    [[ $cmd =~ redis-server|node|qemu ]] || return 0
  fi
  verdict=kill
}

reap() {
  [[ -d $PID_DIR ]] || return 0
  local f pass i p pids files left
  # A killed daemon's own children become reapable (their owner gone) only
  # on the next pass.
  for pass in 1 2 3; do
    pids=() files=()
    for f in "$PID_DIR"/*; do
      [[ -f $f ]] || continue
      classify "$f"
      case $verdict in
        stale) rm -f "$f" ;;
        kill) pids+=("$pid") files+=("$f") ;;
      esac
    done
    ((${#pids[@]})) || return 0
    echo "test.sh: reaping leftover processes: ${pids[*]}" >&2
    kill -TERM "${pids[@]}" 2>/dev/null
    for i in {1..50}; do # up to 5 s for a clean shutdown
      left=()
      for p in "${pids[@]}"; do alive "$p" && left+=("$p"); done
      ((${#left[@]})) || break
      sleep 0.1
    done
    ((${#left[@]})) && kill -KILL "${left[@]}" 2>/dev/null
    rm -f "${files[@]}"
  done
}

if [[ ${1:-} == --reap-only ]]; then
  reap
  exit 0
fi

reap
npx --no -- ava "$@"
status=$?
# Ava's summary must stay the last lines of the output, so report any
# leftovers of this run to a log file instead of the terminal.
mkdir -p .run
reap 2>>.run/reap.log
exit "$status"
