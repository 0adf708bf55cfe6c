/**
 * What a node's container runs: sshd, watched by a few lines of POSIX sh. The watchdog ends the
 * container (and Docker removes it, AutoRemove) when the coordinator's heartbeat stops moving — so
 * no container outlives its job even when srun-docker itself was killed with SIGKILL and nothing
 * was left to remove it. sshd's own messages go to a file in the job directory, where they survive
 * the container for the error message.
 *
 * The coordinator's container also runs the job: once every node answers, srun-docker writes `go` to
 * the container's input (attached before it started) and the script runs the job with the variables
 * of $6; a line with marker $8 and the exit code ends each output stream, the code goes to $7, and
 * the container ends with it. A `docker exec` cost every job ~50 ms
 * of the daemon's time, and a container still running sshd had to be killed instead of just ending.
 * Input that ends without `go` (srun-docker is gone) ends the container at once.
 */
export const WATCHDOG_SCRIPT = [
  // $1: the ssh server's command line (ssh/server.ts: the image's sshd or the built-in one), exec'd in the subshell
  'eval "$1" 2>>"$5" & sshd=$!',
  // a function sees its own arguments as $1...: it gets these by name
  'beats=$3; stale=$4; log=$5',
  // returns once sshd has ended: on its own (1), or stopped here because the heartbeat stopped (0)
  'watch() {',
  '  last=; still=0; tick=0',
  '  while kill -0 "$sshd" 2>/dev/null; do',
  '    sleep 1; tick=$((tick + 1))',
  // sshd is looked at every second (an sshd that cannot start ends the container at once), the heartbeat every 5
  '    [ $((tick % 5)) -eq 0 ] || continue',
  '    beat=$(cat "$beats" 2>/dev/null || echo gone)',
  // a heartbeat file that is gone (the job directory was removed) counts as a stopped heartbeat, not as a new beat
  '    if [ "$beat" = "$last" ] || [ "$beat" = gone ]; then still=$((still + 5)); else still=0; last=$beat; fi',
  '    if [ "$still" -ge "$stale" ]; then echo "srun-docker: no heartbeat from the coordinator for $still s; ending" >>"$log"; kill "$sshd"; return 0; fi',
  '  done',
  '  return 1',
  '}',
  'if [ -z "$6" ]; then watch && exit 0; wait "$sshd"; exit; fi',
  'env=$6; exitfile=$7; marker=$8; shift 8',
  // an asynchronous list's input is /dev/null in sh: the job's reader gets the container's input as fd 3
  'exec 3<&0 </dev/null',
  // Podman passes the attach request's own body (dockerode sends one) to the input first: lines before `go` are skipped
  '( while IFS= read -r go <&3 && [ "$go" != go ]; do :; done; [ "$go" = go ] || exit 255; exec 3<&-; . "$env"; exec "$@" ) & job=$!',
  'exec 3<&-',
  '( watch; kill "$job" 2>/dev/null ) & watcher=$!',
  // the container's exit code is the job's; the exit of PID 1 ends whatever else is left in the container
  'wait "$job"; code=$?',
  // all the job's output is written: this line on each stream says so, with the code (job-end.ts),
  // ~90 ms before the container's exit has gone through containerd and the daemon
  `printf '\\036%s:%s\\n' "$marker" "$code"; printf '\\036%s:%s\\n' "$marker" "$code" >&2`,
  // for an output that ended without those lines: read once it ends, sooner than the daemon reports the exit
  'echo "$code" >"$exitfile"',
  'kill "$watcher" "$sshd" 2>/dev/null',
  'exit "$code"',
].join('\n');

/**
 * A worker's container: sshd, for as long as its input is open. srun-docker holds that input from
 * before the start (DockerClient.holdInput); the daemon closes it when srun-docker closes it or is
 * gone (SIGKILL included), and this ends sshd and the container at once — no heartbeat on the home.
 * sshd's own messages go to a file in the job directory, where they survive the container.
 */
export const WORKER_SCRIPT = [
  // an asynchronous list's input is /dev/null in sh: the watcher gets the container's input as fd 3
  'exec 3<&0 </dev/null',
  // $1: the ssh server's command line (ssh/server.ts: the image's sshd or the built-in one), exec'd in the subshell
  '( exec 3<&-; eval "$1" ) 2>>"$3" & sshd=$!',
  'log=$3',
  '( while IFS= read -r _ <&3; do :; done; echo "srun-docker: input closed (srun-docker ended); ending" >>"$log"; kill "$sshd" 2>/dev/null ) &',
  'exec 3<&-',
  'wait "$sshd"',
].join('\n');

/** Longer than the worker process's own limit (15 s), so in the normal case srun-docker acts first. */
export const CONTAINER_STALE_SECONDS = 45;

export interface ContainerCommandInput {
  /** The ssh server, as a shell command that execs it (serverCommandLine in ssh/server.ts). */
  server: string;
  sshdPort: number;
  heartbeat: string;
  sshdLog: string;
  /**
   * The coordinator's: the job's command, the file of its variables (sourced once `go` arrives), the
   * file for its exit code, and the marker of the line that says the job ended (job-end.ts).
   */
  job?: { command: readonly string[]; envFile: string; exitFile: string; endMarker: string };
}

export function containerCommand(input: ContainerCommandInput): { Entrypoint: string[]; Cmd: string[] } {
  if (input.job === undefined) {
    return { Entrypoint: ['/bin/sh', '-c', WORKER_SCRIPT, 'srun-docker-worker'], Cmd: [input.server, String(input.sshdPort), input.sshdLog] };
  }
  return {
    Entrypoint: ['/bin/sh', '-c', WATCHDOG_SCRIPT, 'srun-docker-watchdog'],
    Cmd: [
      input.server,
      String(input.sshdPort),
      input.heartbeat,
      String(CONTAINER_STALE_SECONDS),
      input.sshdLog,
      input.job?.envFile ?? '',
      input.job?.exitFile ?? '',
      input.job?.endMarker ?? '',
      ...(input.job?.command ?? []),
    ],
  };
}

/** What srun-docker writes to the coordinator's container input to start the job: `go` on a line of its own. */
export const START_JOB = '\ngo\n';
