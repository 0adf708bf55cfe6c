import type { FileSystem } from '../platform/fs.js';
import type { CommandRunner } from '../platform/runner.js';

/** The NVIDIA kernel driver's directory: without it there is no NVIDIA GPU for nvidia-smi to list. */
export const NVIDIA_DRIVER_DIR = '/proc/driver/nvidia';

/**
 * --slots_per_node, else the GPUs SLURM gave the node, else what nvidia-smi lists, else 1. nvidia-smi
 * is run only where the NVIDIA driver is loaded: spawning it (and loading execa) on a CPU node cost
 * every job start ~20 ms for nothing.
 */
export async function resolveSlots(
  given: number | undefined,
  gpus: readonly string[],
  runner: CommandRunner,
  fs: Pick<FileSystem, 'exists'>,
): Promise<number> {
  if (given !== undefined) return given;
  if (gpus.length > 0) return gpus.length;
  if (!(await fs.exists(NVIDIA_DRIVER_DIR))) return 1;
  const smi = await runner.run('nvidia-smi', ['-L'], { timeoutMs: 15_000 });
  const count = smi.exitCode === 0 ? smi.stdout.split('\n').filter((l) => l.startsWith('GPU ')).length : 0;
  return count > 0 ? count : 1;
}
