// The two dialects on real shells run as `SHELL -c LINE`, as sshd runs them: the portable bootstrap gives sh every byte back in every shell, and the probe tells the shells apart.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import { commandLine, PROBE_ECHO, PROBE_PRINT, probeLine } from '../../src/exec/login-shell.js';
import { shellQuote } from '../../src/exec/wrapper.js';
import { ensureShellUser, LOGIN_SHELLS } from '../helpers/fleet.js';

const run = promisify(execFile);
const SHELLS = ['sh', 'bash', 'dash', 'zsh', 'fish', 'tcsh', 'csh', 'mksh', 'ash'] as const;
const POSIX = new Set(['sh', 'bash', 'dash', 'zsh', 'mksh', 'ash']);

/** Every byte but NUL, UTF-8, and runs of quotes and backslashes. */
const EVERY = `${Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1)).join('')} é☃ '' \\\\ \\' %% %s`;

before(async () => {
  await ensureShellUser('ash'); // makes the link named ash
});

/** Runs `line` as the login shell `name` would be asked to by sshd; the environment is cleared of rc-file hooks. */
async function asLoginShell(name: string, line: string): Promise<{ stdout: string; code: number }> {
  const shell = LOGIN_SHELLS[name]!;
  try {
    const { stdout } = await run(shell, ['-c', line], { encoding: 'utf8', maxBuffer: 1 << 24, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } });
    return { stdout, code: 0 };
  } catch (error) {
    const failed = error as { stdout?: string; code?: number };
    return { stdout: failed.stdout ?? '', code: typeof failed.code === 'number' ? failed.code : -1 };
  }
}

for (const name of SHELLS) {
  test(`${name}: the portable line gives sh every byte, the exit status, and a 30 KB command (past csh's word limit)`, async () => {
    const every = await asLoginShell(name, commandLine('portable', `exec printf '%s' ${shellQuote(EVERY)}`));
    assert.equal(every.stdout, EVERY);
    const status = await asLoginShell(name, commandLine('portable', `exec sh -c ${shellQuote('exit 7')}`));
    assert.equal(status.code, 7);
    const long = 'x\n\\'.repeat(10_000);
    const big = await asLoginShell(name, commandLine('portable', `printf '%s' ${shellQuote(long)} | wc -c`));
    assert.equal(big.stdout.trim(), String(Buffer.byteLength(long)));
  });

  test(`${name}: the probe comes back byte for byte as POSIX sh exactly when the shell is sh-like`, async () => {
    const probe = await asLoginShell(name, probeLine(PROBE_PRINT, 'pegasus-probe'));
    assert.equal(probe.stdout === PROBE_ECHO, POSIX.has(name), `posix dialect on ${name}: ${JSON.stringify(probe.stdout)}`);
    const portable = await asLoginShell(name, commandLine('portable', probeLine(PROBE_PRINT, 'pegasus-probe')));
    assert.equal(portable.stdout, PROBE_ECHO, `portable dialect on ${name}`);
  });
}

test('portable words are at most 1,000 characters and never cut a \\ooo or %% in two', () => {
  const line = `echo ${'%\n'.repeat(3000)}`;
  const words = [...commandLine('portable', line).matchAll(/ '([^']*)'/g)].map((m) => m[1]!).slice(1);
  assert.ok(words.length > 3);
  for (const word of words) {
    assert.ok(word.length <= 1000, `a word of ${word.length}`);
    assert.doesNotMatch(word, /\\\d{0,2}$/, 'no escape cut at the end');
    assert.match(word.replace(/%%/g, ''), /^[^%]*$/, 'no lone %');
  }
});
