import { describe, expect, it } from 'vitest';
import type { AttachedContainer } from '../../src/docker/client.js';
import { jobExitCode } from '../../src/roles/coordinator.js';

const never = <T>() => new Promise<T>(() => undefined);

function session(parts: Partial<AttachedContainer>): AttachedContainer {
  return { send: () => undefined, exited: never(), outputEnded: never(), removed: never(), ...parts };
}

describe("jobExitCode: the job's exit code from the coordinator's container", () => {
  it('takes the code the container wrote, once its output ended, without waiting for the daemon', async () => {
    expect(await jobExitCode(session({ outputEnded: Promise.resolve() }), async () => '7\n')).toBe(7);
  });

  it("no file (the output ended some other way): the daemon's exit code", async () => {
    expect(await jobExitCode(session({ outputEnded: Promise.resolve(), exited: Promise.resolve(3) }), async () => undefined)).toBe(3);
    expect(await jobExitCode(session({ outputEnded: Promise.resolve(), exited: Promise.resolve(4) }), async () => 'garbage')).toBe(4);
  });

  it('a container removed before its end was seen (teardown after a signal) is a failure, 137', async () => {
    expect(await jobExitCode(session({ exited: Promise.resolve(undefined) }), async () => undefined)).toBe(137);
  });
});
