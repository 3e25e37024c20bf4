// Adds up the vitest JSON reports every package's `test` task wrote, and prints one closing line.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const totals = { passed: 0, failed: 0, skipped: 0 };
const missing = [];
for (const group of ['packages', 'apps', 'examples']) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group)) {
    const dir = join(group, name);
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    // `test` writes test-results.json; `test:<part>` (the SDK's kubernetes suites) test-results-<part>.json.
    const scripts = Object.keys(JSON.parse(readFileSync(manifest, 'utf8')).scripts ?? {});
    for (const script of scripts.filter((name) => name === 'test' || name.startsWith('test:'))) {
      const report = join(
        dir,
        script === 'test' ? 'test-results.json' : `test-results-${script.slice(5)}.json`,
      );
      if (!existsSync(report)) {
        missing.push(`${dir} (${script})`);
        continue;
      }
      const result = JSON.parse(readFileSync(report, 'utf8'));
      totals.passed += result.numPassedTests;
      totals.failed += result.numFailedTests;
      totals.skipped += result.numPendingTests + (result.numTodoTests ?? 0);
      const label = script === 'test' ? dir : `${dir} ${script}`;
      console.log(`${label}: ${result.numPassedTests} passed, ${result.numFailedTests} failed`);
    }
  }
}
if (missing.length > 0) console.log(`no test report from: ${missing.join(', ')}`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = totals.failed > 0 || missing.length > 0 || totals.passed === 0 ? 1 : 0;
