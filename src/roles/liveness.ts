import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { resolveNodeAddress } from '../channel/address.js';
import { parseMessage, type CoordinatorMessage } from '../channel/messages.js';
import { channelPorts } from '../channel/ports.js';
import type { CommandRunner } from '../platform/runner.js';

/**
 * Whether a job is alive, from the processes and the channel, never from a file's age: a home's
 * clock and this node's need not agree, and a live job writes nothing to the home while it runs.
 */
export interface Liveness {
  /** This process's token (`host:pid:start`), for the labels of the containers it makes. */
  ownToken: string;
  /** true/false for a token of this host; undefined for another host's (it cannot be told from here). */
  processAlive(token: string): boolean | undefined;
  /** Whether the job step's coordinator answers its control channel on that node; undefined: cannot tell. */
  coordinatorAnswers(node: string, jobId: string, stepId: string): Promise<boolean | undefined>;
}

export function processLiveness(host: string, pid: number, runner: CommandRunner): Liveness {
  return {
    ownToken: `${host}:${pid}:${startTimeOf(pid) ?? '?'}`,
    processAlive: (token) => {
      const [tokenHost, tokenPid, start] = token.split(':');
      if (tokenHost !== host || tokenPid === undefined) return undefined;
      const now = startTimeOf(Number(tokenPid));
      return now !== undefined && now === start;
    },
    coordinatorAnswers: async (node, jobId, stepId) => {
      const address = await resolveNodeAddress(node, runner).catch(() => undefined);
      if (address === undefined) return undefined;
      const answers = await Promise.all(channelPorts(jobId, stepId).map((port) => helloOn(address, port, `${jobId}.${stepId}`)));
      if (answers.includes(true)) return true;
      return answers.every((a) => a === false) ? false : undefined;
    },
  };
}

/** The process's start time in clock ticks since boot (/proc/PID/stat field 22): a reused pid has another. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** true: that job's hello; false: nothing listens (or someone else does); undefined: no answer in time. */
function helloOn(host: string, port: number, job: string): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let text = '';
    const finish = (answer: boolean | undefined): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2_000, () => finish(undefined));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED' ? false : undefined));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      const hello = parseMessage<CoordinatorMessage>(text.slice(0, newline));
      finish(hello?.t === 'hello' && hello.job === job);
    });
    socket.on('end', () => finish(false));
  });
}
