#!/usr/bin/env bash
# Builds dist/dropbearmulti: the static (musl) Dropbear that srun-docker mounts read-only into every
# container whose image has no OpenSSH of its own (src/ssh/builtin.ts). One multi-call binary: the
# server (dropbear), the client (dbclient, behind the job's ssh wrapper) and scp.
#
# From Debian bookworm's source package, with Debian's own patches (security fixes included) and
# scripts/dropbear/srun-docker.patch (-D: authorized_keys from the job directory, never ~/.ssh; -e
# keeps the server's PATH; OpenSSH's "pty" key option; with -D the shell srun-docker's passwd names needs no /etc/shells entry). Fixed flags, SOURCE_DATE_EPOCH, build paths
# mapped away, a plain strip: the result is byte for byte the one whose sha256 src/ssh/dropbear-build.ts
# records, and the build fails when it is not. srun-docker checks that sum again before each use.
#
# Needs: apt-get with a `Types: deb-src` entry for bookworm, musl-tools, patch, make, bzip2, xz.
# `--if-missing` (npm run build) does nothing when dist/dropbearmulti is already the recorded one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=2022.83
DEBIAN_VERSION=2022.83-1+deb12u3
ORIG_SHA256=bc5a121ffbc94b5171ad5ebe01be42746d50aa797c9549a4639894a16749443b
DEBIAN_SHA256=74fb171a630f450430b771b2f781c420a4542881ae75fd2f75ca04c53a3eea93
EXPECTED=$(sed -n "s/^export const DROPBEAR_SHA256 = '\([0-9a-f]*\)';$/\1/p" src/ssh/dropbear-build.ts)
OUT=dist/dropbearmulti

sum() { sha256sum "$1" | cut -d' ' -f1; }

if [ "${1:-}" = --if-missing ] && [ -f "$OUT" ] && [ "$(sum "$OUT")" = "$EXPECTED" ]; then exit 0; fi

for tool in musl-gcc patch make bzip2 xz apt-get; do
  command -v "$tool" >/dev/null || { echo "build-dropbear: $tool is missing — install it (apt-get install musl-tools patch make bzip2 xz-utils)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/srun-docker-dropbear.XXXXXX)
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  if ! apt-get source --download-only "dropbear=$DEBIAN_VERSION" >apt.log 2>&1; then
    cat apt.log >&2
    echo "build-dropbear: apt-get could not fetch the source of dropbear $DEBIAN_VERSION — add a 'Types: deb-src' entry for bookworm (see README, Development) and run apt-get update" >&2
    exit 1
  fi
  [ "$(sum "dropbear_$VERSION.orig.tar.bz2")" = "$ORIG_SHA256" ] || { echo "build-dropbear: dropbear_$VERSION.orig.tar.bz2 is not the expected one" >&2; exit 1; }
  [ "$(sum "dropbear_$DEBIAN_VERSION.debian.tar.xz")" = "$DEBIAN_SHA256" ] || { echo "build-dropbear: the Debian patches are not the expected ones" >&2; exit 1; }
  mkdir src
  tar -C src --strip-components=1 -xjf "dropbear_$VERSION.orig.tar.bz2"
  tar -C src -xJf "dropbear_$DEBIAN_VERSION.debian.tar.xz"
)
src="$work/src"
grep -v '^\s*#' "$src/debian/patches/series" | while read -r p _; do
  [ -n "$p" ] && patch -s -d "$src" -p1 <"$src/debian/patches/$p"
done
patch -s -d "$src" -p1 <scripts/dropbear/srun-docker.patch
cat >"$src/localoptions.h" <<'EOF'
/* srun-docker: keys only; no agent forwarding; scp runs the `ssh` first on PATH (the job's wrapper) */
#define DROPBEAR_SVR_PASSWORD_AUTH 0
#define DROPBEAR_CLI_PASSWORD_AUTH 0
#define DROPBEAR_SVR_AGENTFWD 0
#define DROPBEAR_CLI_AGENTFWD 0
#define DROPBEAR_PATH_SSH_PROGRAM "ssh"
EOF

export SOURCE_DATE_EPOCH=1668000000 LC_ALL=C TZ=UTC
(
  cd "$src"
  CC=musl-gcc CFLAGS="-Os -ffile-prefix-map=$src=." ./configure --host=x86_64-linux-musl --disable-zlib --enable-static \
    --disable-lastlog --disable-utmp --disable-utmpx --disable-wtmp --disable-wtmpx --disable-pututline --disable-pututxline \
    >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
  make -j"$(nproc)" PROGRAMS="dropbear dbclient scp dropbearkey" MULTI=1 STATIC=1 >make.log 2>&1 || { tail -20 make.log >&2; exit 1; }
  strip --strip-all -R .comment -R .note.gnu.build-id dropbearmulti
)
got=$(sum "$src/dropbearmulti")
if [ "$got" != "$EXPECTED" ]; then
  echo "build-dropbear: the build is not the recorded one: sha256 $got, expected ${EXPECTED:-<none>} (src/ssh/dropbear-build.ts)" >&2
  echo "build-dropbear: the toolchain differs from bookworm's musl 1.2.3 / gcc 12, or the sources changed; a deliberate change records the new sum there" >&2
  exit 1
fi
mkdir -p dist
install -m 0755 "$src/dropbearmulti" "$OUT"
echo "built $OUT (sha256 $got)"
