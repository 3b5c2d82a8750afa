// Start-up (issue 7): `pegasus --help` and a one-job localhost run, against `node -e 0`; medians of 10, as ratios.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI } from '../test/helpers/cli.js';

function median(fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[5] ?? NaN;
}

/** Markdown table of start-up times relative to a bare node process. */
export function startupTable(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pegasus-bench-startup-'));
  try {
    writeFileSync(path.join(dir, 'hosts.yaml'), '- localhost\n');
    const node = median(() => execFileSync(process.execPath, ['-e', '0']));
    const help = median(() => execFileSync(process.execPath, [CLI, '--help']));
    const one = median(() => {
      writeFileSync(path.join(dir, 'queue.yaml'), '- "true"\n');
      execFileSync(process.execPath, [CLI, 'q', '--plain'], { cwd: dir, stdio: 'ignore' });
    });
    return [
      '| command | median ms | vs `node -e 0` |',
      '|---|---:|---:|',
      `| \`node -e 0\` | ${node.toFixed(0)} | 1.00x |`,
      `| \`pegasus --help\` | ${help.toFixed(0)} | ${(help / node).toFixed(2)}x |`,
      `| \`pegasus q\`, one \`true\` job on localhost | ${one.toFixed(0)} | ${(one / node).toFixed(2)}x |`,
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(startupTable());
