import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('..', import.meta.url));
const exclude = ['**/node_modules/**', '**/.next/**', '**/.tsbuild/**'];

// Two tiers chosen by file suffix: `*.test.ts` are fast unit tests, `*.int.test.ts` run against real parts
// (runc, registries, PostgreSQL, network namespaces) and run one file at a time.
export default defineConfig({
  test: {
    root,
    projects: [
      {
        test: {
          name: 'unit',
          root,
          include: ['{apps,packages,bench}/**/*.test.ts'],
          exclude: [...exclude, '**/*.int.test.ts'],
        },
      },
      {
        test: {
          name: 'int',
          root,
          include: ['{apps,packages,bench}/**/*.int.test.ts'],
          exclude,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One file at a time: test files share the host's firewall, and netavark's shared chains (its
          // FORWARD jumps and isolation rules) are not safe against two engines changing them at once.
          fileParallelism: false,
          maxWorkers: 1,
        },
      },
    ],
  },
});
