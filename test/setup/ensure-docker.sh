#!/usr/bin/env bash
# Idempotent: make sure a Docker daemon answers and debootstrap is installed.
# If no daemon answers, install what is missing (docker.io, debootstrap) from
# Debian's mirror, start dockerd in the background and record its PID in
# $SRUN_DOCKER_STATE/dockerd.pid so stop-docker.sh can stop exactly that one.
# A daemon that already answers is left alone (no PID recorded).
set -euo pipefail

STATE="${SRUN_DOCKER_STATE:-/tmp/srun-docker-ci}"
WAIT_SECS="${DOCKER_WAIT_SECS:-60}"
log() { printf '[ensure-docker] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)

if docker info >/dev/null 2>&1; then
  log "docker daemon already answers; not starting one"
  docker_up=1
else
  docker_up=0
  command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
  command -v docker >/dev/null 2>&1 || { [[ " ${missing[*]} " == *" docker.io "* ]] || missing+=(docker.io); }
fi

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$docker_up" -eq 1 ]; then
  exit 0
fi

mkdir -p "$STATE"
if [ -f "$STATE/dockerd.pid" ] && kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null; then
  log "dockerd we started earlier (pid $(cat "$STATE/dockerd.pid")) is still running; waiting for it"
else
  DOCKERD="$(command -v dockerd || echo /usr/sbin/dockerd)"
  log "starting $DOCKERD (log: $STATE/dockerd.log)"
  # setsid: own session, so it survives this shell and our process group.
  $SUDO setsid "$DOCKERD" >"$STATE/dockerd.log" 2>&1 </dev/null &
  pid=$!
  # With sudo, $! is sudo's pid; setsid without fork keeps the pid when root.
  echo "$pid" >"$STATE/dockerd.pid"
fi

start=$SECONDS
for ((i = 0; i < WAIT_SECS * 2; i++)); do
  if docker info >/dev/null 2>&1; then
    log "docker daemon answers after $((SECONDS - start)) s"
    exit 0
  fi
  if ! kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null; then
    log "dockerd exited; last log lines:"; tail -n 20 "$STATE/dockerd.log" >&2 || true
    rm -f "$STATE/dockerd.pid"
    exit 1
  fi
  sleep 0.5
done
log "docker daemon did not answer within ${WAIT_SECS} s; last log lines:"
tail -n 20 "$STATE/dockerd.log" >&2 || true
exit 1
