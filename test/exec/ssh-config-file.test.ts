// Tests for src/exec/ssh-config-file.ts: the fallback reader, checked against `ssh -G` on the same files.

import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ConfigError } from '../../src/errors.js';
import { parseSshConfigText, resolveFromConfigFile } from '../../src/exec/ssh-config-file.js';
import { resolveHost } from '../../src/exec/ssh-config.js';
import { writeSshConfigFixture } from '../helpers/ssh-config-fixture.js';

const home = os.homedir();

let dir: string;
let config: string;

before(async () => {
  ({ dir, config } = await writeSshConfigFixture('pegasus-ssh-config-file-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const localUser = os.userInfo().username;

describe('resolveFromConfigFile (the fallback reader)', () => {
  for (const host of ['web1', 'bob@alias-x', 'db', 'a.glob.test', 'nomatch-a.glob.test', 'other']) {
    it(`resolves ${host} as ssh -G does`, async () => {
      assert.deepEqual(await resolveFromConfigFile(host, { configFile: config }), await resolveHost(host, { configFile: config }));
    });
  }

  it('fills OpenSSH defaults for an empty config', async () => {
    const file = join(dir, 'empty-config');
    await writeFile(file, '');
    const fallback = await resolveFromConfigFile('plain.test', { configFile: file });
    const ssh = await resolveHost('plain.test', { configFile: file });
    // OpenSSH builds with XMSS list id_xmss as a default identity too; the reader does not.
    assert.deepEqual(fallback, { ...ssh, identityFiles: ssh.identityFiles.filter((f) => !f.endsWith('id_xmss')) });
    assert.equal(fallback.port, 22);
    assert.equal(fallback.user, localUser);
    assert.deepEqual(fallback.userKnownHostsFiles, [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2')]);
    assert.equal(fallback.strictHostKeyChecking, 'ask');
    assert.equal(fallback.identityFiles.length, 6);
  });

  it('resolves relative Include paths against ~/.ssh, applies Include inside a matching Host only, and takes Match all', async () => {
    const fakeHome = join(dir, 'home');
    await mkdir(join(fakeHome, '.ssh', 'conf.d'), { recursive: true });
    await writeFile(join(fakeHome, '.ssh', 'conf.d', 'b.conf'), 'Port 2002\nUser b\n');
    await writeFile(join(fakeHome, '.ssh', 'conf.d', 'a.conf'), 'Port 2001\n');
    await writeFile(join(fakeHome, '.ssh', 'only-web'), 'User web-only\n');
    await writeFile(
      join(fakeHome, '.ssh', 'config'),
      [
        'Host web',
        '  Include only-web',
        'Host other',
        '  Include conf.d/*.conf',
        'Match all',
        '  HostName=%h.lan',
        '  ProxyCommand = ssh -W %h:%p gw # not a jump',
        '  ProxyJump ignored-because-proxycommand-came-first',
      ].join('\n'),
    );
    const options = { homeDir: fakeHome, systemConfigFile: join(dir, 'no-system-config') };
    const web = await resolveFromConfigFile('web', options);
    assert.equal(web.user, 'web-only');
    assert.equal(web.port, 22);
    assert.equal(web.hostname, 'web.lan');
    assert.equal(web.proxyCommand, 'ssh -W %h:%p gw');
    assert.equal(web.proxyJump, undefined);
    const other = await resolveFromConfigFile('other', options);
    assert.equal(other.port, 2001);
    assert.equal(other.user, 'b');
    assert.deepEqual(other.identityFiles[0], join(fakeHome, '.ssh', 'id_rsa'));
  });

  it('throws a ConfigError for a missing config file', async () => {
    await assert.rejects(resolveFromConfigFile('x', { configFile: join(dir, 'absent') }), ConfigError);
  });
});

describe('parseSshConfigText', () => {
  it('reads Key value, Key=value, Key = value, quotes and trailing comments', () => {
    const text = 'Host a\n\tPort=22\nUser = bob\n  IdentityFile "/a b/c" # comment\n# whole line\nHostName \'x y\'\n';
    assert.deepEqual(parseSshConfigText(text, 'f'), [
      { keyword: 'host', args: ['a'], line: 1 },
      { keyword: 'port', args: ['22'], line: 2 },
      { keyword: 'user', args: ['bob'], line: 3 },
      { keyword: 'identityfile', args: ['/a b/c'], line: 4 },
      { keyword: 'hostname', args: ['x y'], line: 6 },
    ]);
  });

  it('throws a ConfigError with the line of an unterminated quote', () => {
    assert.throws(() => parseSshConfigText('Host a\nUser "bob\n', 'f'), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.place, { file: 'f', line: 2 });
      return true;
    });
  });
});
