#!/usr/bin/env bash
# Everything the tests need on this machine, idempotent: a Docker daemon (installed and started when
# none answers), the test images (built from Debian packages when missing), the non-root test user,
# and the built project. Called by `npm test`, so a fresh machine needs no other step.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/ensure-docker.sh"
bash "$here/../images/build.sh"
bash "$here/ensure-test-user.sh"
