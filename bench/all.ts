// `npm run bench`: every benchmark of issues 3, 4, 6, 7, 8, 15 and 17 in one run; prints the tables and writes bench/RESULTS.md.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runPeerBench } from './peers.js';
import { startupTable } from './startup.js';
import { localTable } from './local.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

async function script(name: string): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(here, `${name}.js`)], { maxBuffer: 64 << 20, timeout: 600_000 });
  return stdout.trim();
}

await run('bash', [path.join(root, 'bench/install-peers.sh')]).catch((error: Error) => console.error(`bench: installing peers: ${error.message}`));
const sections: [string, () => Promise<string> | string][] = [
  ['W1, W1b, W2: against the peers', runPeerBench],
  ['L: local jobs against GNU parallel and the spawn floor', localTable],
  ['Q: taking one job from the queue file', () => script('pop')],
  ['D: daemon pickup latency', () => script('daemon-latency')],
  ['O: output throughput and memory', () => script('output')],
  ['Start-up', startupTable],
  ['Slots: utilization, FIFO vs --backfill; slots: auto GPUs with one busy', () => script('slots')],
];
/** Whether ssh2 found its native crypto binding (AES-GCM and ChaCha20 without a cipher object per packet). */
function sshBinding(): boolean {
  try {
    return (createRequire(path.join(root, 'package.json'))('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable === true;
  } catch {
    return false;
  }
}

const cpu = os.cpus();
const out: string[] = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpu.length} x ${cpu[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, ${(await run('ssh', ['-V']).catch((e: { stderr?: string }) => ({ stderr: e.stderr ?? '' }))).stderr.trim()}.`,
  'The "remote" hosts are sshd processes on 127.0.0.2-5 on the same machine, sharing its cores: read the ratios, not the absolute figures.',
  `ssh2's optional native crypto binding (built by \`npm ci\` where a C++ compiler is found): ${sshBinding() ? 'loaded' : 'not built, so ssh2 encrypts in its slower fallback'}.`,
];
for (const [title, measure] of sections) {
  console.error(`bench: ${title} ...`);
  let body: string;
  try {
    body = await measure();
  } catch (error) {
    body = `failed: ${(error as Error).message}`;
  }
  out.push('', `## ${title}`, '', body);
  console.log(`\n## ${title}\n\n${body}`);
}
await writeFile(path.join(root, 'bench/RESULTS.md'), `${out.join('\n')}\n`);
console.error('bench: wrote bench/RESULTS.md');
