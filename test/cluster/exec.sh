#!/usr/bin/env bash
# docker exec wrapper for the test cluster:
#   test/cluster/exec.sh [--user USER] [--workdir DIR] [-i] HOST CMD...
# HOST is slurmctl or nodeK. As a non-root user the working dir defaults to
# that user's home.
set -euo pipefail
user="" wd="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -u|--user) user="$2"; shift 2 ;;
    --user=*) user="${1#*=}"; shift ;;
    -w|--workdir) wd="$2"; shift 2 ;;
    --workdir=*) wd="${1#*=}"; shift ;;
    -i|--interactive) args+=(-i); shift ;;
    --) shift; break ;;
    -*) echo "exec.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: exec.sh [--user USER] [--workdir DIR] [-i] HOST CMD..." >&2; exit 2; }
host="$1"; shift
if [ -n "$user" ]; then
  args+=(-u "$user")
  [ -n "$wd" ] || { [ "$user" = root ] || [ "$user" = 0 ] || wd="/home/$user"; }
fi
[ -z "$wd" ] || args+=(-w "$wd")
exec docker exec "${args[@]}" "$host" "$@"
