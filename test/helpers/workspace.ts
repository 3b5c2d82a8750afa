// A test file's folders of hosts.yaml and queue.yaml, removed when the file's tests are done.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

/**
 * Returns a maker of fresh folders `<tmpdir>/<prefix>XXXXXX` holding `hosts` as hosts.yaml and the
 * given queue as queue.yaml; every folder it made is removed after the calling file's tests.
 */
export function workspaces(prefix: string, hosts: string): (queue: string) => Promise<string> {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  return async (queue) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    await writeFile(path.join(dir, 'hosts.yaml'), hosts);
    await writeFile(path.join(dir, 'queue.yaml'), queue);
    return dir;
  };
}
