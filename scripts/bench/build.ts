/** The bundles the bench runs: the functions as deployed, and its own workers built the same way. */
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from '../local-stack';

export const FUNCTIONS = ['create-order', 'refund', 'stripe-webhook', 'get-order'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export const WORKERS = ['service-worker', 'limit-worker', 'cold-start-child'] as const;
export type WorkerName = (typeof WORKERS)[number];

/**
 * serverless.yml's custom.esbuild options (what serverless-esbuild deploys), but for the Node this
 * machine runs: a source map next to each bundle, which the profile reads (Node does not, unless
 * told to), so the code run is the code deployed.
 */
async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    platform: 'node',
    target: 'node20',
    // As serverless.yml: the AWS SDK v3 is part of the Lambda runtime, not the bundle.
    external: ['pg-native', '@aws-sdk/*'],
    loader: { '.lua': 'text' },
    outfile,
    logLevel: 'error',
  });
}

/** Each function's bundle in `dir`, by name. */
export async function buildFunctions(dir: string): Promise<Record<FunctionName, string>> {
  const out = {} as Record<FunctionName, string>;
  for (const fn of FUNCTIONS) {
    out[fn] = join(dir, `${fn}.js`);
    await bundle(join(ROOT, 'handlers', `${fn}.ts`), out[fn]);
  }
  return out;
}

/** The bench's own programs (scripts/bench/<name>.ts), each one file that plain `node` runs. */
export async function buildWorkers(dir: string): Promise<Record<WorkerName, string>> {
  const out = {} as Record<WorkerName, string>;
  for (const name of WORKERS) {
    out[name] = join(dir, `${name}.js`);
    await bundle(join(ROOT, 'scripts', 'bench', `${name}.ts`), out[name]);
  }
  return out;
}
