// `npm test`: system packages first, then every tier in order, stopping at the first that fails.
import { spawnSync } from 'node:child_process';
import { ensureSystemPackages, testPackages } from './system-packages.mjs';

if (!ensureSystemPackages(testPackages)) process.exit(1);

const steps = [
  ['lint', ['npm', 'run', 'lint']],
  ['typecheck', ['npm', 'run', 'typecheck']],
  ['unit', ['npm', 'run', 'test:unit']],
  ['integration', ['npm', 'run', 'test:int']],
  ['e2e', ['npm', 'run', 'test:e2e']],
];
const only = process.argv.slice(2);
for (const [name, [command, ...args]] of steps) {
  if (only.length > 0 && !only.includes(name)) continue;
  const started = Date.now();
  console.info(`\n=== ${name} ===`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  console.info(
    `=== ${name}: ${result.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s ===`,
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
}
