// The transport under an SSH connection: how its socket is opened.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { dial } from '../../src/exec/link.js';

test("the socket to an SSH server has Nagle's algorithm off before its first byte (issue 17: 40 ms of each handshake)", async () => {
  const server = net.createServer((socket) => socket.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const socket = dial('127.0.0.1', (server.address() as net.AddressInfo).port);
    // Node keeps the wanted setting under this symbol until the handle exists, and applies it then.
    const noDelay = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
    assert.ok(noDelay, "this Node keeps a socket's no-delay setting where the test can read it");
    assert.equal((socket as unknown as Record<symbol, unknown>)[noDelay], true, 'no delay is asked for at connect, not after');
    await once(socket, 'connect');
    assert.equal((socket as unknown as Record<symbol, unknown>)[noDelay], true);
    socket.destroy();
  } finally {
    server.close();
  }
});
