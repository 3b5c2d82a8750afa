// Runs pegasus on the bundled examples in a scratch folder (demo/), so the examples themselves stay untouched.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dir = path.join(root, 'demo');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir);
copyFileSync(path.join(root, 'hosts.example.yaml'), path.join(dir, 'hosts.yaml'));
copyFileSync(path.join(root, 'queue.example.yaml'), path.join(dir, 'queue.yaml'));
console.log(`pegasus q in ${path.relative(process.cwd(), dir) || '.'}/ (hosts.yaml and queue.yaml copied from the examples)\n`);
const run = spawnSync(process.execPath, [path.join(root, 'dist/bin/pegasus.cjs'), 'q', ...process.argv.slice(2)], { cwd: dir, stdio: 'inherit' });
console.log(`\nexit status ${run.status}; see demo/consumed.yaml for what ran.`);
process.exitCode = run.status ?? 1;
