import { appendFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends the run with the plain line CI reads: `tests: N passed, N failed, N skipped`. When
 * SRUN_DOCKER_SUMMARY_FILE names a file, this run is one of several (test/run-tiers.sh: the cluster
 * tier once per home and once with aliased node names, one cluster at a time): its counts are appended there as one JSON line, and
 * the script prints the closing line over all of them.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[]): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    // what each tier ran (passed or failed, not skipped): test/run-tiers.sh holds them to its floors
    const ran: Record<string, number> = {};
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed += 1;
        else if (state === 'failed') counts.failed += 1;
        else counts.skipped += 1;
        if (state === 'passed' || state === 'failed') ran[module.project.name] = (ran[module.project.name] ?? 0) + 1;
      }
    }
    const carry = process.env.SRUN_DOCKER_SUMMARY_FILE;
    if (carry !== undefined && carry !== '') {
      appendFileSync(carry, `${JSON.stringify({ ...counts, ran, home: process.env.CLUSTER_HOME ?? 'plain', names: process.env.CLUSTER_NODENAMES ?? 'hostnames' })}\n`);
      process.stdout.write(`\n[summary] this run: passed ${counts.passed}, failed ${counts.failed}, skipped ${counts.skipped} (the closing line counts every run)\n`);
      return;
    }
    process.stdout.write(`\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  }
}
