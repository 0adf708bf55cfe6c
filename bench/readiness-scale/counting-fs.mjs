// The home's operations, counted: a wrapper around dist/fs.js's nodeFileSystem that counts every
// method call as one operation (a writeFile is one op here, though it is a write, a chmod and a
// rename underneath; a mkdir -p is one op however many directories it makes). What the kernel does
// on its own (attribute revalidation, lookups it caches or not) is not seen from here.
import { nodeFileSystem } from '../../dist/platform/fs.js';

export function countingFileSystem(fs = nodeFileSystem) {
  const byMethod = {};
  let total = 0;
  const counted = {};
  for (const name of Object.keys(fs)) {
    counted[name] = (...args) => {
      total += 1;
      byMethod[name] = (byMethod[name] ?? 0) + 1;
      return fs[name](...args);
    };
  }
  return { fs: counted, snapshot: () => ({ total, byMethod: { ...byMethod } }) };
}

/** What was counted between two snapshots. */
export function opsBetween(before, after) {
  const byMethod = {};
  for (const [name, count] of Object.entries(after.byMethod)) {
    const delta = count - (before.byMethod[name] ?? 0);
    if (delta > 0) byMethod[name] = delta;
  }
  return { total: after.total - before.total, byMethod };
}
