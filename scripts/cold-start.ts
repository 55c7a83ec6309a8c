/**
 * `npm run bench:cold-start` (after `npm run package`): each packaged function's zip size and its
 * module initialisation time (what a Lambda cold start adds on top of the runtime's own start): a
 * fresh `node` process requires the bundled handler, median of RUNS. No AWS needed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.env.COLD_START_RUNS ?? 15);
const dir = process.argv[2] ?? join(__dirname, '..', '.serverless');

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const rows: string[] = ['| function | zip (KiB) | bundle (KiB) | init (ms, median) |', '|---|---:|---:|---:|'];
for (const zip of readdirSync(dir).filter((f) => f.endsWith('.zip') && f !== 'order-service.zip')) {
  const unpacked = mkdtempSync(join(tmpdir(), 'cold-start-'));
  try {
    spawnSync('unzip', ['-q', join(dir, zip), '-d', unpacked], { stdio: 'inherit' });
    const bundle = readdirSync(join(unpacked, 'handlers')).find((f) => f.endsWith('.js')) as string;
    const path = join(unpacked, 'handlers', bundle);
    const times: number[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      const run = spawnSync(
        process.execPath,
        ['-e', `const t = performance.now(); require(${JSON.stringify(path)}); console.log(performance.now() - t)`],
        { encoding: 'utf8', env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1' } },
      );
      times.push(Number(run.stdout.trim()));
    }
    rows.push(
      `| ${zip.replace('.zip', '')} | ${(statSync(join(dir, zip)).size / 1024).toFixed(0)} | ${(statSync(path).size / 1024).toFixed(0)} | ${median(times).toFixed(1)} |`,
    );
  } finally {
    rmSync(unpacked, { recursive: true, force: true });
  }
}
process.stdout.write(`${rows.join('\n')}\n`);
