import { describe, expect, it } from 'vitest';
import type { AttachedContainer } from '../../../src/docker/client.js';
import { jobExitCode } from '../../../src/roles/coordinator.js';

const never = <T>() => new Promise<T>(() => undefined);

function session(parts: Partial<AttachedContainer>): AttachedContainer {
  return { resize: async () => undefined, startInput: () => undefined, stopInput: () => undefined, exited: never(), outputEnded: never(), jobEnded: never(), removed: never(), ...parts };
}

describe("jobExitCode: the job's exit code from the coordinator's container", () => {
  it('takes the code from the job-end lines as soon as both have come through, before the output ends', async () => {
    expect(await jobExitCode(session({ jobEnded: Promise.resolve(5) }), async () => undefined)).toBe(5);
    expect(await jobExitCode(session({ jobEnded: Promise.resolve(0) }), async () => undefined)).toBe(0);
  });

  it('output that ended without the lines: the file, then the daemon, as before', async () => {
    expect(await jobExitCode(session({ jobEnded: Promise.resolve(undefined), outputEnded: Promise.resolve() }), async () => '6\n')).toBe(6);
    expect(await jobExitCode(session({ jobEnded: Promise.resolve(undefined), outputEnded: Promise.resolve(), exited: Promise.resolve(2) }), async () => undefined)).toBe(2);
  });

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
