// Tests for src/exec/known-hosts.ts against keys, files and lookups made by OpenSSH's own ssh-keygen.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  addKnownHost,
  checkHostKey,
  describeChangedKey,
  fingerprint,
  keyTypeOf,
  knownHostsName,
  knownKeyTypes,
} from '../../src/exec/known-hosts.js';

const run = promisify(execFile);

interface Key {
  readonly base64: string;
  readonly blob: Buffer;
  readonly pubFile: string;
}

let dir: string;
const keys: Record<string, Key> = {};

async function makeKey(name: string, type: string): Promise<Key> {
  const file = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', file]);
  const base64 = (await readFile(`${file}.pub`, 'utf8')).split(' ')[1] ?? '';
  return { base64, blob: Buffer.from(base64, 'base64'), pubFile: `${file}.pub` };
}

function key(name: string): Key {
  const found = keys[name];
  assert.ok(found, `no key ${name}`);
  return found;
}

// ssh-keygen -F exits 0 when it finds the name in the file, 1 when it does not.
async function sshKeygenFinds(name: string, file: string): Promise<boolean> {
  try {
    await run('ssh-keygen', ['-F', name, '-f', file]);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 1) return false;
    throw error;
  }
}

before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'pegasus-known-hosts-'));
  const made = await Promise.all([
    makeKey('ed1', 'ed25519'),
    makeKey('ed2', 'ed25519'),
    makeKey('ed3', 'ed25519'),
    makeKey('ec1', 'ecdsa'),
    makeKey('rsa1', 'rsa'),
  ]);
  for (const [i, name] of ['ed1', 'ed2', 'ed3', 'ec1', 'rsa1'].entries()) keys[name] = made[i] as Key;
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fingerprint and keyTypeOf', () => {
  for (const name of ['ed1', 'ec1', 'rsa1']) {
    it(`prints what ssh-keygen -lf prints for the ${name} key`, async () => {
      const { stdout } = await run('ssh-keygen', ['-lf', key(name).pubFile]);
      assert.equal(fingerprint(key(name).blob), stdout.split(' ')[1]);
    });
  }

  it('reads the type name at the start of the blob', () => {
    assert.equal(keyTypeOf(key('ed1').blob), 'ssh-ed25519');
    assert.equal(keyTypeOf(key('ec1').blob), 'ecdsa-sha2-nistp256');
    assert.equal(keyTypeOf(key('rsa1').blob), 'ssh-rsa');
    assert.throws(() => keyTypeOf(Buffer.from([0, 0, 0, 9, 1])), TypeError);
  });
});

describe('checkHostKey on plain entries', () => {
  let file: string;
  before(async () => {
    file = join(dir, 'known_hosts_plain');
    const ed1 = key('ed1').base64;
    await writeFile(
      file,
      [
        '# a comment',
        '',
        `web1,Web1.Example.com ssh-ed25519 ${ed1} first`,
        `[web2]:2222 ssh-ed25519 ${ed1}`,
        `*.wild.test,node-??.test ssh-ed25519 ${ed1}`,
        `*.neg.test,!bad.neg.test ssh-ed25519 ${ed1}`,
        `@cert-authority * ssh-ed25519 ${key('ed2').base64}`,
        `@revoked * ssh-ed25519 ${key('ed3').base64}`,
        `moved ecdsa-sha2-nistp256 ${key('ec1').base64}`,
        `moved ssh-ed25519 ${key('ed2').base64}`,
        `moved ssh-ed25519 ${key('ed3').base64}`,
        'garbage line',
        `ecdsa-only ecdsa-sha2-nistp256 ${key('ec1').base64}`,
      ].join('\n'),
    );
  });

  const check = (host: string, port: number, name: string): ReturnType<typeof checkHostKey> =>
    checkHostKey({ host, port, blob: key(name).blob, files: [join(dir, 'missing'), file] });

  it('knows a host listed by name, in any letter case', async () => {
    assert.deepEqual(await check('web1', 22, 'ed1'), { status: 'known' });
    assert.deepEqual(await check('web1.example.COM', 22, 'ed1'), { status: 'known' });
  });

  it('matches [host]:port entries only on that port, and plain entries only on port 22', async () => {
    assert.deepEqual(await check('web2', 2222, 'ed1'), { status: 'known' });
    assert.deepEqual(await check('web2', 22, 'ed1'), { status: 'unknown' });
    assert.deepEqual(await check('web1', 2222, 'ed1'), { status: 'unknown' });
    assert.equal(knownHostsName('Web2', 2222), '[web2]:2222');
    assert.equal(knownHostsName('web2', 22), 'web2');
  });

  it('matches * and ? wildcards', async () => {
    assert.deepEqual(await check('a.wild.test', 22, 'ed1'), { status: 'known' });
    assert.deepEqual(await check('node-07.test', 22, 'ed1'), { status: 'known' });
    assert.deepEqual(await check('node-107.test', 22, 'ed1'), { status: 'unknown' });
  });

  it('lets a !negated pattern exclude a host the line would otherwise match', async () => {
    assert.deepEqual(await check('good.neg.test', 22, 'ed1'), { status: 'known' });
    assert.deepEqual(await check('bad.neg.test', 22, 'ed1'), { status: 'unknown' });
  });

  it('ignores @cert-authority lines', async () => {
    assert.deepEqual(await check('anything', 22, 'ed2'), { status: 'unknown' });
  });

  it('refuses a revoked key, naming its line', async () => {
    const result = await check('web1', 22, 'ed3');
    assert.deepEqual(result, {
      status: 'revoked',
      name: 'web1',
      file,
      line: 8,
      knownType: 'ssh-ed25519',
      fingerprint: fingerprint(key('ed3').blob),
    });
    if (result.status === 'revoked') assert.ok(describeChangedKey('web1', result).includes(`${file}:8 marks @revoked`));
  });

  it('reports a changed key at the first line holding a key of the same type', async () => {
    const result = await check('moved', 22, 'ed1');
    assert.deepEqual(result, {
      status: 'changed',
      name: 'moved',
      file,
      line: 10,
      knownType: 'ssh-ed25519',
      fingerprint: fingerprint(key('ed1').blob),
    });
    assert.deepEqual(await check('moved', 22, 'ed2'), { status: 'known' });
  });

  it('calls a key of a type not recorded for the host unknown', async () => {
    assert.deepEqual(await check('ecdsa-only', 22, 'ed1'), { status: 'unknown' });
  });

  it('lists the key types recorded for a host, revoked and CA lines aside', async () => {
    const files = [file];
    assert.deepEqual(await knownKeyTypes({ host: 'moved', port: 22, files }), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    assert.deepEqual(await knownKeyTypes({ host: 'web2', port: 2222, files }), ['ssh-ed25519']);
    assert.deepEqual(await knownKeyTypes({ host: 'nobody', port: 22, files }), []);
  });

  it('treats missing files as empty', async () => {
    const files = [join(dir, 'nope', 'known_hosts')];
    assert.deepEqual(await checkHostKey({ host: 'web1', port: 22, blob: key('ed1').blob, files }), { status: 'unknown' });
    assert.deepEqual(await knownKeyTypes({ host: 'web1', port: 22, files }), []);
  });

  it('describes a changed key with the host, fingerprint, file:line and the ssh-keygen -R fix', async () => {
    const result = await checkHostKey({ host: 'web2', port: 2222, blob: key('ed2').blob, files: [file] });
    assert.equal(result.status, 'changed');
    if (result.status !== 'changed') return;
    const text = describeChangedKey('web2', result);
    assert.match(text, /^The host key of web2 has changed/);
    assert.ok(text.includes(`ssh-ed25519 key with fingerprint ${fingerprint(key('ed2').blob)}`), text);
    assert.ok(text.includes(`${file}:4`), text);
    assert.ok(text.endsWith(`ssh-keygen -R '[web2]:2222' -f ${file}`), text);
    assert.ok(!text.includes('\n'), 'one paragraph');
  });
});

describe('checkHostKey on entries hashed by ssh-keygen -H', () => {
  let file: string;
  before(async () => {
    file = join(dir, 'known_hosts_hashed');
    await writeFile(
      file,
      `web3 ssh-ed25519 ${key('ed1').base64}\n[web4]:2200 ssh-ed25519 ${key('ed1').base64}\n`,
    );
    await run('ssh-keygen', ['-H', '-f', file]);
    const text = await readFile(file, 'utf8');
    assert.match(text, /^\|1\|[^|]+\|[^| ]+ ssh-ed25519 /);
    assert.ok(!text.includes('web3') && !text.includes('web4'), 'ssh-keygen hashed the names');
  });

  it('finds hosts by the HMAC of their name', async () => {
    assert.deepEqual(await checkHostKey({ host: 'web3', port: 22, blob: key('ed1').blob, files: [file] }), { status: 'known' });
    assert.deepEqual(await checkHostKey({ host: 'web4', port: 2200, blob: key('ed1').blob, files: [file] }), { status: 'known' });
    assert.deepEqual(await checkHostKey({ host: 'web4', port: 22, blob: key('ed1').blob, files: [file] }), { status: 'unknown' });
  });

  it('reports a changed key on a hashed line', async () => {
    const result = await checkHostKey({ host: 'web4', port: 2200, blob: key('ed2').blob, files: [file] });
    assert.equal(result.status, 'changed');
    assert.equal(result.status === 'changed' ? result.line : 0, 2);
  });
});

describe('addKnownHost', () => {
  it('creates the directory 0700 and file 0600, and the new entry is then known (to ssh-keygen too)', async () => {
    const file = join(dir, 'home1', '.ssh', 'known_hosts');
    await addKnownHost({ file, host: 'New1', port: 22, blob: key('ed1').blob });
    await addKnownHost({ file, host: 'new2', port: 2022, blob: key('ec1').blob });
    assert.equal((await stat(join(dir, 'home1', '.ssh'))).mode & 0o777, 0o700);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await checkHostKey({ host: 'new1', port: 22, blob: key('ed1').blob, files: [file] }), { status: 'known' });
    assert.deepEqual(await checkHostKey({ host: 'new2', port: 2022, blob: key('ec1').blob, files: [file] }), { status: 'known' });
    assert.equal(
      await readFile(file, 'utf8'),
      `new1 ssh-ed25519 ${key('ed1').base64}\n[new2]:2022 ecdsa-sha2-nistp256 ${key('ec1').base64}\n`,
    );
    assert.ok(await sshKeygenFinds('[new2]:2022', file));
  });

  it('writes hashed names that OpenSSH can look up', async () => {
    const file = join(dir, 'known_hosts_added_hashed');
    await addKnownHost({ file, host: 'secret', port: 2201, blob: key('ed2').blob, hash: true });
    const text = await readFile(file, 'utf8');
    assert.match(text, /^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 \S+\n$/);
    assert.ok(!text.includes('secret'));
    assert.deepEqual(await checkHostKey({ host: 'secret', port: 2201, blob: key('ed2').blob, files: [file] }), { status: 'known' });
    assert.ok(await sshKeygenFinds('[secret]:2201', file));
    assert.ok(!(await sshKeygenFinds('secret', file)));
  });

  it('records one line when many callers add the same key at once', async () => {
    const file = join(dir, 'known_hosts_concurrent');
    const add = (): Promise<void> => addKnownHost({ file, host: 'busy', port: 22, blob: key('ed1').blob, hash: true });
    await Promise.all([add(), add(), add(), add()]);
    await add();
    await addKnownHost({ file, host: 'busy2', port: 22, blob: key('ed1').blob });
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 2);
  });

  it('starts a new line when the file lacks a final newline', async () => {
    const file = join(dir, 'known_hosts_no_newline');
    await writeFile(file, `old ssh-ed25519 ${key('ed2').base64}`);
    await addKnownHost({ file, host: 'fresh', port: 22, blob: key('ed1').blob });
    assert.deepEqual(await checkHostKey({ host: 'old', port: 22, blob: key('ed2').blob, files: [file] }), { status: 'known' });
    assert.deepEqual(await checkHostKey({ host: 'fresh', port: 22, blob: key('ed1').blob, files: [file] }), { status: 'known' });
  });
});
