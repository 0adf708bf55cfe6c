# shellcheck shell=sh
# A worker's container: sshd, for as long as its input is open. srun-docker holds that input from
# before the start (DockerClient.holdInput); the daemon closes it when srun-docker closes it or is
# gone (SIGKILL included), and this ends sshd and the container at once — no heartbeat on the home.
# sshd's own messages go to a file in the job directory, where they survive the container.
#
# Arguments: $1 the ssh server's command line, $2 its log.
# an asynchronous list's input is /dev/null in sh: the watcher gets the container's input as fd 3
exec 3<&0 </dev/null
# $1: the ssh server's command line (ssh/server.ts: the image's sshd or the built-in one), exec'd in the subshell
( exec 3<&-; eval "$1" ) 2>>"$2" & sshd=$!
log=$2
( while IFS= read -r _ <&3; do :; done; echo "srun-docker: input closed (srun-docker ended); ending" >>"$log"; kill "$sshd" 2>/dev/null ) &
exec 3<&-
wait "$sshd"
