// `npm run -w apps/agent bundle`: the agent as one JavaScript file for hosts that have only Node (>= 20.19)
// — apps/agent/dist/berth-agent.mjs, its checksum (berth-agent.mjs.sha256, in `sha256sum -c` form) and
// manifest.json ({ version, sha256, node }), which the control plane serves at /api/agent/bundle/<version>/.
//
// The one native dependency (node-unix-socket, for conmon's SOCK_SEQPACKET attach socket) is embedded as
// base64 and written next to the bundle (or under the temp dir when that is read-only) on first use, keyed by
// its hash, then loaded with process.dlopen: the host needs no npm and no compiler.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const agentDir = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(agentDir, 'dist');
const outFile = join(outDir, 'berth-agent.mjs');
const { version } = JSON.parse(await readFile(join(agentDir, 'package.json'), 'utf8'));

// Which prebuilt addons exist depends on what npm installed for this machine; each is embedded so one bundle
// serves the architectures the build machine has binaries for.
const addonTargets = [
  ['linux-x64', 'node-unix-socket-linux-x64-gnu', 'node-unix-socket.linux-x64-gnu.node'],
  ['linux-arm64', 'node-unix-socket-linux-arm64-gnu', 'node-unix-socket.linux-arm64-gnu.node'],
];

const embeddedAddon = {
  name: 'berth-embedded-addon',
  setup(b) {
    b.onLoad({ filter: /node-unix-socket[\\/]js[\\/]addon\.js$/ }, async (args) => {
      const binaries = {};
      for (const [target, pkg, file] of addonTargets) {
        const path = join(dirname(args.path), '..', '..', pkg, file);
        if (existsSync(path)) binaries[target] = (await readFile(path)).toString('base64');
      }
      if (Object.keys(binaries).length === 0) throw new Error('no node-unix-socket binary found to embed');
      return {
        loader: 'js',
        contents: `
const { createHash } = require('node:crypto');
const { mkdirSync, writeFileSync, renameSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const binaries = ${JSON.stringify(binaries)};
const target = process.platform + '-' + process.arch;
const encoded = binaries[target];
if (!encoded) throw new Error('this agent bundle has no native socket addon for ' + target + ' (it has: ' + Object.keys(binaries).join(', ') + ')');
const bytes = Buffer.from(encoded, 'base64');
const name = createHash('sha256').update(bytes).digest('hex').slice(0, 16) + '.node';
function place(dir) {
  const path = join(dir, name);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = path + '.' + process.pid + '.tmp';
  writeFileSync(tmp, bytes, { mode: 0o755 });
  renameSync(tmp, path);
  return path;
}
let path;
try { path = place(join(__berthBundleDir, 'native')); } catch { path = place(join(tmpdir(), 'berth-agent-native')); }
const loaded = { exports: {} };
process.dlopen(loaded, path);
module.exports = loaded.exports;
`,
      };
    });
  },
};

await mkdir(outDir, { recursive: true });
await build({
  entryPoints: [join(agentDir, 'src', 'main.ts')],
  // Written beside and renamed into place: a control plane serving the bundle never reads a partial file.
  outfile: `${outFile}.${process.pid}.tmp`,
  bundle: true,
  platform: 'node',
  target: 'node20.19',
  format: 'esm',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [embeddedAddon],
  // CommonJS dependencies call require() for Node built-ins, which an ES module lacks.
  banner: {
    js: [
      '#!/usr/bin/env node',
      `// Berth agent ${version} (bundled). Needs Node >= 20.19 on Linux.`,
      "import { createRequire as __berthCreateRequire } from 'node:module';",
      "import { dirname as __berthDirname } from 'node:path';",
      "import { fileURLToPath as __berthFileURLToPath } from 'node:url';",
      'const require = __berthCreateRequire(import.meta.url);',
      'const __berthBundleDir = __berthDirname(__berthFileURLToPath(import.meta.url));',
    ].join('\n'),
  },
  define: { 'process.env.BERTH_AGENT_BUNDLED': '"1"' },
});

const bytes = await readFile(`${outFile}.${process.pid}.tmp`);
const sha256 = createHash('sha256').update(bytes).digest('hex');
const replace = async (path, content) => {
  if (content !== undefined) await writeFile(`${path}.${process.pid}.tmp`, content);
  await rename(`${path}.${process.pid}.tmp`, path);
};
await replace(outFile);
await replace(`${outFile}.sha256`, `${sha256}  berth-agent.mjs\n`);
await replace(
  join(outDir, 'manifest.json'),
  `${JSON.stringify({ version, file: 'berth-agent.mjs', sha256, size: bytes.length, node: '>=20.19' }, null, 2)}\n`,
);
console.info(
  `agent bundle ${version}: ${outFile} (${(bytes.length / 1024).toFixed(0)} KiB, sha256 ${sha256})`,
);
