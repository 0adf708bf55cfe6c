#!/usr/bin/env bash
# Stop the dockerd that ensure-docker.sh started, and only that one
# (identified by $SRUN_DOCKER_STATE/dockerd.pid). No pid file: nothing to do.
set -euo pipefail

STATE="${SRUN_DOCKER_STATE:-/tmp/srun-docker-ci}"
PIDFILE="$STATE/dockerd.pid"
WAIT_SECS="${DOCKER_STOP_WAIT_SECS:-30}"
log() { printf '[stop-docker] %s\n' "$*" >&2; }

if [ ! -f "$PIDFILE" ]; then
  log "no $PIDFILE: we did not start a dockerd; leaving it alone"
  exit 0
fi
pid="$(cat "$PIDFILE")"
if ! kill -0 "$pid" 2>/dev/null; then
  log "dockerd pid $pid is not running"
  rm -f "$PIDFILE"
  exit 0
fi
log "stopping dockerd pid $pid"
kill -TERM "$pid"
for ((i = 0; i < WAIT_SECS * 2; i++)); do
  kill -0 "$pid" 2>/dev/null || { log "stopped"; rm -f "$PIDFILE"; exit 0; }
  sleep 0.5
done
log "dockerd pid $pid still running after ${WAIT_SECS} s; sending SIGKILL"
kill -KILL "$pid" 2>/dev/null || true
sleep 1
rm -f "$PIDFILE"
