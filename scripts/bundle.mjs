// Bundles the compiled CLI (dist/src) into dist/bin: one file to load instead of ~300 modules, which is most of pegasus's start-up (issue 7).
// ssh2 stays a package of its own (it finds its optional native crypto and its wasm next to itself); the live view is its own chunk, loaded only on a terminal.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// Chunks of earlier builds would pile up beside the new ones (their names are content hashes).
await rm(path.join(root, 'dist/bin'), { recursive: true, force: true });
await build({
  entryPoints: { pegasus: path.join(root, 'dist/src/cli.js') },
  outdir: path.join(root, 'dist/bin'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['ssh2', 'cpu-features', 'react-devtools-core', 'fsevents'],
  // CommonJS dependencies bundled into an ES module still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __pegasusRequire } from 'node:module'; const require = __pegasusRequire(import.meta.url);" },
  logLevel: 'warning',
});
