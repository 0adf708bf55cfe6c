#!/usr/bin/env bash
# The docker tests run srun-docker as a non-root user (containers must run as the caller, never as
# root). As root, create that user once, with a home and membership of the docker group.
set -euo pipefail
USER_NAME="${SRUN_DOCKER_TEST_USER:-srun-docker-test}"
[ "$(id -u)" -eq 0 ] || exit 0
getent group docker >/dev/null || groupadd --system docker
if ! getent passwd "$USER_NAME" >/dev/null; then
  useradd --create-home --shell /bin/bash --groups docker "$USER_NAME"
  echo "[ensure-test-user] created $USER_NAME" >&2
fi
usermod -aG docker "$USER_NAME"
chmod 0700 "$(getent passwd "$USER_NAME" | cut -d: -f6)"
