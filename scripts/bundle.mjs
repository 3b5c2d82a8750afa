// Bundles the compiled CLI (dist/src) into dist/bin: one file to load instead of ~300 modules, which is most of pegasus's start-up (issue 7).
// The CLI is one CommonJS file, pegasus-main.cjs, that the `pegasus` command (pegasus.cjs, from scripts/launcher.cjs) loads with V8's
// code cache (issue 17), which this script then writes with a warm-up run. ssh2 stays a package of its own (it finds its optional
// native crypto and its wasm next to itself). The live view is an ES module bundle of its own (live.mjs; ink and yoga use top-level
// await, which CommonJS cannot have), loaded only on a terminal.
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.join(root, 'dist/bin');
const external = ['ssh2', 'cpu-features', 'react-devtools-core', 'fsevents'];
const LIVE = '__pegasus_live_view__';
// Builds of earlier layouts would pile up beside the new files (chunk names are content hashes).
await rm(out, { recursive: true, force: true });

await build({
  entryPoints: { live: path.join(root, 'dist/src/ui/live/start.js') },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // CommonJS dependencies bundled into an ES module still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __pegasusRequire } from 'node:module'; const require = __pegasusRequire(import.meta.url);" },
  logLevel: 'warning',
});

const main = path.join(out, 'pegasus-main.cjs');
await build({
  entryPoints: [path.join(root, 'dist/src/cli.js')],
  outfile: main,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  define: { 'import.meta.url': '__pegasusUrl' },
  banner: { js: "const __pegasusUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [
    {
      name: 'live-view',
      setup(b) {
        b.onResolve({ filter: /\/ui\/live\/start\.js$/ }, () => ({ path: LIVE, external: true }));
      },
    },
  ],
  logLevel: 'warning',
});
// The launcher hands the bundle a function that imports for it (see scripts/launcher.cjs).
const code = await readFile(main, 'utf8');
const calls = code.split(`import("${LIVE}")`).length - 1;
if (calls !== 1 || /\bimport\(/.test(code.replaceAll(`import("${LIVE}")`, ''))) {
  throw new Error(`bundle.mjs: expected exactly one dynamic import (the live view) in ${main}, found ${calls} and maybe others`);
}
// The launcher wraps the bundle in a function, where the entry's #! line would be a syntax error.
await writeFile(main, code.replace(/^#!/, '//').replace(`import("${LIVE}")`, '__pegasusImport("./live.mjs")'));
await copyFile(path.join(root, 'scripts/launcher.cjs'), path.join(out, 'pegasus.cjs'));
await chmod(path.join(out, 'pegasus.cjs'), 0o755);

// The warm-up: one job on localhost, so the code cache holds what a run compiles.
const scratch = await mkdtemp(path.join(os.tmpdir(), 'pegasus-warm-up-'));
try {
  await writeFile(path.join(scratch, 'hosts.yaml'), '- localhost\n');
  await writeFile(path.join(scratch, 'queue.yaml'), '- command: echo {{word}}\n  word: [warm]\n');
  execFileSync(process.execPath, [path.join(out, 'pegasus.cjs'), 'q', '--plain'], { cwd: scratch, stdio: 'ignore', env: { ...process.env, CI: 'true' } });
} finally {
  await rm(scratch, { recursive: true, force: true });
}
