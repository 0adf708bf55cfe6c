/**
 * What a node's container runs: sshd, watched by a few lines of POSIX sh. The watchdog ends the
 * container (and Docker removes it, AutoRemove) when the coordinator's heartbeat stops moving — so
 * no container outlives its job even when srun-docker itself was killed with SIGKILL and nothing
 * was left to remove it. sshd's own messages go to a file in the job directory, where they survive
 * the container for the error message.
 */
export const WATCHDOG_SCRIPT = [
  '/usr/sbin/sshd -D -e -f "$1" -p "$2" 2>>"$5" & sshd=$!',
  'last=; still=0; tick=0',
  'while kill -0 "$sshd" 2>/dev/null; do',
  '  sleep 1; tick=$((tick + 1))',
  // sshd is looked at every second (an sshd that cannot start ends the container at once), the heartbeat every 5
  '  [ $((tick % 5)) -eq 0 ] || continue',
  '  beat=$(cat "$3" 2>/dev/null || echo gone)',
  // a heartbeat file that is gone (the job directory was removed) counts as a stopped heartbeat, not as a new beat
  '  if [ "$beat" = "$last" ] || [ "$beat" = gone ]; then still=$((still + 5)); else still=0; last=$beat; fi',
  '  if [ "$still" -ge "$4" ]; then echo "srun-docker: no heartbeat from the coordinator for $still s; ending" >>"$5"; kill "$sshd"; exit 0; fi',
  'done',
  'wait "$sshd"',
].join('\n');

/** Longer than the worker process's own limit (15 s), so in the normal case srun-docker acts first. */
export const CONTAINER_STALE_SECONDS = 45;

export interface ContainerCommandInput {
  sshdConfig: string;
  sshdPort: number;
  heartbeat: string;
  sshdLog: string;
}

export function containerCommand(input: ContainerCommandInput): { Entrypoint: string[]; Cmd: string[] } {
  return {
    Entrypoint: ['/bin/sh', '-c', WATCHDOG_SCRIPT, 'srun-docker-watchdog'],
    Cmd: [input.sshdConfig, String(input.sshdPort), input.heartbeat, String(CONTAINER_STALE_SECONDS), input.sshdLog],
  };
}
