// Runs every e2e/specs/*.spec.ts with node's test runner (Node 20's --test takes no glob patterns).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const specs = readdirSync(new URL('./specs', import.meta.url))
  .filter((name) => name.endsWith('.spec.ts'))
  .sort()
  .map((name) => `specs/${name}`);
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--import', 'tsx', ...specs], {
  cwd: new URL('.', import.meta.url),
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
