import { describe, expect, it } from 'vitest';
import { allSettledOrFirstError } from '../../../src/platform/settle.js';

const later = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));
const failLater = (ms: number, message: string): Promise<never> => new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms));

describe('allSettledOrFirstError', () => {
  it('resolves with every value, in order, like Promise.all', async () => {
    expect(await allSettledOrFirstError([later(10, 'a'), Promise.resolve(2)])).toEqual(['a', 2]);
  });

  it('a failure rejects only once the others have settled', async () => {
    let writeDone = false;
    const slowWrite = later(50, undefined).then(() => {
      writeDone = true;
    });
    await expect(allSettledOrFirstError([slowWrite, Promise.reject(new Error('no sshd_config'))])).rejects.toThrow('no sshd_config');
    expect(writeDone).toBe(true); // Promise.all would have rejected while it was still writing
  });

  it('rejects with the first failure in the order given', async () => {
    await expect(allSettledOrFirstError([failLater(30, 'first'), failLater(5, 'second')])).rejects.toThrow('first');
  });
});
