// What the fleet test files share: one sshd fleet for the file, and temporary folders removed after it.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { startFleet, type Fleet, type FleetOptions } from './fleet.js';

/** Starts a fleet before the file's tests and stops it (and removes `tempDir` folders) after them; call at the top level. */
export function fleetSuite(options: FleetOptions): { readonly fleet: () => Fleet; readonly tempDir: (prefix: string) => Promise<string> } {
  let fleet: Fleet | undefined;
  const dirs: string[] = [];
  before(async () => {
    fleet = await startFleet(options);
  });
  after(async () => {
    await fleet?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return {
    fleet: () => {
      if (!fleet) throw new Error('the fleet is not started yet (use it inside a test)');
      return fleet;
    },
    // Readable by all: the fleet's jobs run as the test user and look for files here.
    tempDir: async (prefix) => {
      const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
      dirs.push(dir);
      await chmod(dir, 0o755);
      return dir;
    },
  };
}
