#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine and a fresh clone; run by
# `npm start`, `npm test` (as pre-scripts) and CI. Every step is skipped when
# there is nothing to do, so it costs well under a second on a warm machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "setup: $*" >&2; }
die() { echo "setup: FAILED: $*" >&2; exit 1; }

# --- (a) Debian packages -----------------------------------------------------
# Everything rapid and its tests run: a private redis-server, the Ganeti RAPI
# client and htools for compatibility tests, curl/jq for scripts, QEMU.
APT_PACKAGES="redis-server python3-ganeti-rapi ganeti-htools curl jq qemu-system-x86 qemu-utils python3-bitarray python3-pyparsing python3-openssl python3-psutil python3-pyinotify python3-simplejson syslinux syslinux-common mtools dosfstools fdisk socat iproute2"

missing=()
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$pkg")
done

if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    SUDO=(sudo)
  fi
  # Keep packages from starting system services (redis-server's postinst
  # would start one on port 6379). rapid always runs its own redis on a
  # private port, so a system one would only be a stray process. The
  # standard policy-rc.d "exit 101" makes invoke-rc.d/deb-systemd-invoke skip
  # starting services; we add it only if none exists and remove it after.
  # (rapid never uses a system redis either way.)
  policy=/usr/sbin/policy-rc.d policy_ours=
  # apt/dpkg chatter goes to a log that is shown only when something fails.
  aptlog=$(mktemp)
  trap 'rm -f "$aptlog"; if [[ -n $policy_ours ]]; then "${SUDO[@]}" rm -f "$policy"; fi' EXIT
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    policy_ours=1
  fi
  apt_get() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 "$@" >>"$aptlog" 2>&1 \
      || { cat "$aptlog" >&2; die "apt-get $1 failed (packages: ${missing[*]})"; }
  }
  apt_get update
  # No recommends: they would pull in ~150 extra packages (GUI bits for QEMU).
  apt_get install -y --no-install-recommends "${missing[@]}"
fi
for bin in redis-server curl jq qemu-system-x86_64 qemu-img; do
  command -v "$bin" >/dev/null || die "'$bin' is still missing after installing packages"
done

# --- (b) npm dependencies ----------------------------------------------------
# The stamp lives inside node_modules so `npm ci` (which deletes the folder)
# and a manual `rm -rf node_modules` both invalidate it. It records the lock
# file and the node version (native prebuilds depend on the node ABI).
stamp=node_modules/.rapid-setup-stamp
if [[ -f package-lock.json ]]; then lockfile=package-lock.json; else lockfile=package.json; fi
want="$(node --version) $(sha256sum "$lockfile" | cut -d' ' -f1)"
if [[ ! -d node_modules || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  if [[ $lockfile == package-lock.json ]]; then
    log "npm ci"
    npm ci --no-audit --no-fund >&2 || die "npm ci failed"
  else
    log "npm install (no package-lock.json)"
    npm install --no-audit --no-fund >&2 || die "npm install failed"
    want="$(node --version) $(sha256sum package-lock.json | cut -d' ' -f1)"
  fi
  echo "$want" >"$stamp"
fi

# --- (c) build ---------------------------------------------------------------
# Drop compiled files whose source is gone, so ava never runs a ghost test.
if [[ -d dist ]]; then
  while IFS= read -r js; do
    src="${js#dist/}"
    [[ -e ${src%.js}.ts ]] || rm -f "$js" "$js.map" "${js%.js}.d.ts"
  done < <(find dist -name '*.js' -not -path 'dist/node_modules/*')
fi
log "tsc -p . (incremental)"
# --no: use the local compiler only, never download one; "--" so that npx
# does not read tsc's -p as its own --package.
npx --no -- tsc -p . >&2 || die "TypeScript build failed (see errors above)"
log "ready"
