# shellcheck shell=sh
# What the coordinator's container runs: sshd beside the job, as its main process (a `docker exec`
# cost every job ~50 ms of the daemon's time, and a container still running sshd had to be killed
# instead of just ending). srun-docker opened the control FIFO $5 before the start, and writes
# `go NONCE` to it once every node answers; the job then runs with the variables of $3 and the
# container's input as its own, a line with the nonce and the exit code ends each output stream,
# the code goes to $4, and the container ends with it. The FIFO's end — before `go` or after — means
# srun-docker is gone (the kernel closes its end even on SIGKILL): the container ends within a
# second or two. sshd's own messages go to $2, a file in the job directory, where they survive the
# container for the error message.
#
# Arguments: $1 the ssh server's command line, $2 its log, $3 the job's variables, $4 the exit-code
# file, $5 the control FIFO, then the job's command.
# $1: the ssh server's command line (ssh/server.ts: the image's sshd or the built-in one), exec'd in the subshell
eval "$1" 2>>"$2" & sshd=$!
log=$2; env=$3; exitfile=$4; fifo=$5; shift 5
# the control FIFO (control-fifo.ts): srun-docker holds it open; once this process holds it too,
# its name goes, so nothing in the job can open it (a writer of its own would hide srun-docker's end).
# Opened read-write first, so that it never blocks (srun-docker may be gone already), then read-only.
exec 5<>"$fifo"; exec 3</proc/self/fd/5 5<&- 4<&0; rm -f "$fifo"
# sshd's end (it could not start, or died under the job) is said on the FIFO itself, through this
# process's own hold of it; a zombie counts as ended (this process reaps nothing while it reads)
up() { read -r _ _ state _ <"/proc/$sshd/stat" 2>/dev/null && [ "$state" != Z ]; }
( while up; do sleep 1; done; echo sshd-gone >/proc/self/fd/3 ) </dev/null >/dev/null 2>&1 & sw=$!
# `go NONCE` once every node answers; the FIFO's end first means srun-docker is gone: no job
if ! { read -r word nonce <&3 && [ "$word" = go ] && [ -n "$nonce" ]; }; then kill "$sw" "$sshd" 2>/dev/null; exit 255; fi
# on a terminal, job control: the job gets the terminal (`fg` below), so Ctrl-C reaches it, not sshd
tty=; [ -t 1 ] && tty=1 && set -m 2>/dev/null
# its input is the container's from the first byte (an asynchronous list's would be /dev/null)
# shellcheck source=/dev/null
( : srun-docker-job; exec 3<&- 4<&-; . "$env"; exec "$@" ) <&4 & job=$!
exec 4<&-
# srun-docker gone (the FIFO at its end, even after a SIGKILL) or sshd gone: the job ends, then the container
( while read -r why <&3 && [ "$why" != sshd-gone ]; do :; done; [ -n "$why" ] || echo "srun-docker: the coordinator is gone; ending" >>"$log"; kill -15 "$job"; sleep 1; kill -9 "$job" ) </dev/null >/dev/null 2>&1 & ew=$!
exec 3<&-
if [ -n "$tty" ]; then fg %?srun-docker-job >/dev/null; else wait "$job"; fi; code=$?
# all the job's output is written: a line on each stream says so, with the nonce and the code
# (job-end.ts), ~90 ms before the container's exit has gone through containerd and the daemon; on a
# terminal both streams are one, and one line does
if [ -n "$tty" ]; then printf '\036srun-docker-job-end:%s:%s\n' "$nonce" "$code"; else
  printf '\036srun-docker-job-end:%s:%s\n' "$nonce" "$code"; printf '\036srun-docker-job-end:%s:%s\n' "$nonce" "$code" >&2; fi
# for an output that ended without those lines: read once it ends, sooner than the daemon reports the exit
echo "$code" >"$exitfile"
# the exit of PID 1 ends whatever else is left in the container (the job's leftovers); these by name
# too, for a container that shares the host's process namespace
kill "$ew" "$sw" "$sshd" 2>/dev/null
exit "$code"
