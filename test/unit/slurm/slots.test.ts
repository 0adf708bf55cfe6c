import { describe, expect, it } from 'vitest';
import type { CommandResult, CommandRunner } from '../../../src/platform/runner.js';
import { NVIDIA_DRIVER_DIR, resolveSlots } from '../../../src/slurm/slots.js';

/** nvidia-smi answering `output` with `exitCode`, and every call recorded. */
function smi(output: string, exitCode = 0) {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    run(file, args): Promise<CommandResult> {
      calls.push([file, ...args]);
      return Promise.resolve({ exitCode, stdout: output, stderr: '', timedOut: false });
    },
  };
  return { runner, calls };
}

const driver = (loaded: boolean) => ({ exists: (path: string) => Promise.resolve(loaded && path === NVIDIA_DRIVER_DIR) });
const TWO_GPUS = 'GPU 0: NVIDIA A100 (UUID: GPU-1)\nGPU 1: NVIDIA A100 (UUID: GPU-2)\n';

describe('resolveSlots', () => {
  it.each<[string, number | undefined, string[], boolean, string, number, number, string[][]]>([
    ['--slots_per_node wins', 8, ['0', '1'], true, TWO_GPUS, 0, 8, []],
    ["SLURM's GPUs next", undefined, ['0', '1', '2'], true, TWO_GPUS, 0, 3, []],
    ['no NVIDIA driver: 1, and nvidia-smi is never run', undefined, [], false, TWO_GPUS, 0, 1, []],
    ['the driver is loaded: what nvidia-smi lists', undefined, [], true, TWO_GPUS, 0, 2, [['nvidia-smi', '-L']]],
    ['nvidia-smi fails: 1', undefined, [], true, '', 9, 1, [['nvidia-smi', '-L']]],
    ['nvidia-smi lists no GPU: 1', undefined, [], true, 'No devices found\n', 0, 1, [['nvidia-smi', '-L']]],
  ])('%s', async (_name, given, gpus, loaded, output, exitCode, slots, expectedCalls) => {
    const { runner, calls } = smi(output, exitCode);
    expect(await resolveSlots(given, gpus, runner, driver(loaded))).toBe(slots);
    expect(calls).toEqual(expectedCalls);
  });
});
