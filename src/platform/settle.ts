/**
 * Promise.all, except that when one fails it still waits for the others to settle before it rejects
 * (with the first failure in the order given): the teardown that follows a failure must not remove
 * a directory while a sibling is still writing into it (rm then fails, ENOTEMPTY, and it stays).
 */
export async function allSettledOrFirstError<T extends readonly unknown[] | []>(values: T): Promise<{ -readonly [P in keyof T]: Awaited<T[P]> }> {
  const results = await Promise.allSettled(values as readonly unknown[]);
  const settled: unknown[] = [];
  for (const result of results) {
    if (result.status === 'rejected') throw result.reason;
    settled.push(result.value);
  }
  return settled as { -readonly [P in keyof T]: Awaited<T[P]> };
}
