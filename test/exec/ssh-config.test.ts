// Tests for src/exec/ssh-config.ts: resolution through OpenSSH's `ssh -G`, its cache, errors and fallback.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { ConfigError } from '../../src/errors.js';
import { clearResolveCache, resolveHost, type ResolvedHost } from '../../src/exec/ssh-config.js';
import { writeSshConfigFixture } from '../helpers/ssh-config-fixture.js';

const run = promisify(execFile);
const home = os.homedir();

let dir: string;
let config: string;

before(async () => {
  ({ dir, config } = await writeSshConfigFixture('pegasus-ssh-config-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const localUser = os.userInfo().username;

describe('resolveHost through ssh -G', () => {
  it('applies HostName, User, Port, IdentityFile tokens, ProxyJump and Host * settings', async () => {
    const web1 = await resolveHost('web1', { configFile: config });
    assert.deepEqual(web1, {
      alias: 'web1',
      hostname: 'web1.example.test',
      port: 2201,
      user: 'alice',
      identityFiles: [
        join(home, '.ssh', 'id_web1.example.test_alice'),
        `${dir}/keys dir/web1-2201`,
        join(home, '.ssh', `common_${localUser}`),
      ],
      ...(process.env.SSH_AUTH_SOCK ? { identityAgent: process.env.SSH_AUTH_SOCK } : {}),
      identitiesOnly: true,
      proxyJump: 'jump@bastion:2222,second',
      userKnownHostsFiles: [`${dir}/kh1`, join(home, '.ssh', 'kh-web1.example.test')],
      globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      strictHostKeyChecking: 'accept-new',
      serverAliveIntervalSec: 15,
      serverAliveCountMax: 5,
      hashKnownHosts: false,
    } satisfies ResolvedHost);
  });

  it('lets user@host override User, and %r follows it', async () => {
    const resolved = await resolveHost('bob@alias-x', { configFile: config });
    assert.equal(resolved.alias, 'bob@alias-x');
    assert.equal(resolved.user, 'bob');
    assert.equal(resolved.hostname, 'alias-x.example.test');
    assert.equal(resolved.identityFiles[0], join(home, '.ssh', 'id_alias-x.example.test_bob'));
  });

  it('follows Include globs, with the first obtained value winning', async () => {
    const db = await resolveHost('db', { configFile: config });
    assert.equal(db.hostname, '127.0.0.5');
    assert.equal(db.port, 2202);
    assert.equal(db.user, 'dbuser');
    assert.equal(db.hostKeyAlias, 'dbkey');
    assert.equal(db.connectTimeoutSec, 7);
    assert.equal(db.hashKnownHosts, true);
    assert.equal(db.identityAgent, undefined);
    assert.equal(db.strictHostKeyChecking, 'yes');
    assert.equal(db.proxyCommand, 'nc %h %p');
    assert.equal(db.proxyJump, undefined);
    assert.deepEqual(db.identityFiles, [join(home, '.ssh', 'db_dbkey'), join(home, '.ssh', `common_${localUser}`)]);
  });

  it('honours ! negation in Host patterns', async () => {
    assert.equal((await resolveHost('a.glob.test', { configFile: config })).user, 'globber');
    assert.equal((await resolveHost('a.glob.test', { configFile: config })).strictHostKeyChecking, 'no');
    assert.equal((await resolveHost('nomatch-a.glob.test', { configFile: config })).user, 'fallback');
  });

  it('honours Match, which only ssh -G understands', async () => {
    assert.equal((await resolveHost('matchme', { configFile: config })).user, 'matched');
  });

  it('expands every IdentityFile token the way OpenSSH expands ControlPath', async () => {
    // ssh -G prints ControlPath expanded but IdentityFile raw; both accept the same tokens.
    const raw = `${dir}/t/%%-%C-%d-%h-%i-%k-%L-%l-%n-%p-%r-%u`;
    const file = join(dir, 'tokens-config');
    await writeFile(file, `Host tok\n  HostName tok.example.test\n  Port 2299\n  User tokuser\n  IdentityFile ${raw}\n  ControlPath ${raw}\n`);
    const { stdout } = await run('ssh', ['-G', '-F', file, 'tok']);
    const expected = /^controlpath (.*)$/m.exec(stdout)?.[1];
    assert.ok(expected?.includes('tok.example.test-'), `ssh expanded ControlPath: ${expected}`);
    assert.deepEqual((await resolveHost('tok', { configFile: file })).identityFiles, [expected]);
  });

  it('resolves each (config file, host) once, until the cache is cleared', async () => {
    const file = join(dir, 'cached-config');
    await writeFile(file, 'Host c\n  Port 1001\n');
    assert.equal((await resolveHost('c', { configFile: file })).port, 1001);
    await writeFile(file, 'Host c\n  Port 1002\n');
    assert.equal((await resolveHost('c', { configFile: file })).port, 1001);
    clearResolveCache();
    assert.equal((await resolveHost('c', { configFile: file })).port, 1002);
  });

  it('throws a ConfigError quoting ssh and naming file:line for a bad config', async () => {
    const file = join(dir, 'bad-config');
    await writeFile(file, 'Host x\n  NoSuchOption y\n');
    await assert.rejects(resolveHost('x', { configFile: file }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.place, { file, line: 2 });
      assert.match(error.message, /Bad configuration option: nosuchoption/);
      assert.ok(!error.message.includes('Pseudo-terminal'));
      return true;
    });
  });

  it('throws a ConfigError naming a missing -F file', async () => {
    const file = join(dir, 'no-such-config');
    await assert.rejects(resolveHost('x', { configFile: file }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.place?.file, file);
      assert.ok(error.message.includes(file), error.message);
      return true;
    });
  });

  it('refuses a host that ssh would read as an option', async () => {
    await assert.rejects(resolveHost('-oProxyCommand=touch /tmp/x', { configFile: config }), ConfigError);
  });

  it('rejects with the abort reason when the caller gives up', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await assert.rejects(resolveHost('web1', { configFile: config, signal: controller.signal }), /stop/);
  });

  it('falls back to reading the file when there is no ssh binary', async () => {
    const viaFallback = await resolveHost('web1', { configFile: config, sshBinary: join(dir, 'no-ssh-here') });
    assert.deepEqual(viaFallback, await resolveHost('web1', { configFile: config }));
  });
});
