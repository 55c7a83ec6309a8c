/**
 * `npm run dev`: the service on http://127.0.0.1:3000 with `serverless offline`, after migrating
 * and seeding DATABASE_URL. Ctrl-C stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { config } from '../lib/config';

const PORT = 3000;
const children: ChildProcess[] = [];

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

function stopAll(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}

async function main(): Promise<void> {
  const cfg = config();
  const env = { ...process.env, DATABASE_URL: cfg.databaseUrl, REDIS_URL: cfg.redisUrl, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' };
  await run('npm', ['run', '--silent', 'db:migrate'], env);
  await run('npm', ['run', '--silent', 'db:seed'], env);
  const offline = spawn('npx', ['serverless', 'offline', 'start', '--host', '127.0.0.1', '--httpPort', String(PORT), '--noPrependStageInUrl'], {
    env,
    stdio: 'inherit',
  });
  children.push(offline);
  offline.on('exit', (code) => process.exit(code ?? 0));
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { stopAll(); process.exit(0); });
main().catch((error: unknown) => {
  process.stderr.write(`npm run dev: ${error instanceof Error ? error.message : String(error)}\n`);
  stopAll();
  process.exit(1);
});
