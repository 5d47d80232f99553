import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readUpTo } from '../core/text.js';
import { HttpTransport } from './http-transport.js';

/** A server on loopback that records the headers of each request and answers with `answer`. */
async function serve(answer: (path: string) => { status: number; headers?: Record<string, string>; body?: string }): Promise<{ server: Server; url: string; seen: { path: string; headers: IncomingHttpHeaders }[] }> {
  const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const { status, headers = {}, body = '' } = answer(req.url ?? '');
    res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('HttpTransport', () => {
  let cdn: Awaited<ReturnType<typeof serve>>;
  let registry: Awaited<ReturnType<typeof serve>>;
  const transport = new HttpTransport();
  before(async () => {
    cdn = await serve(() => ({ status: 200, body: 'layer bytes' }));
    registry = await serve((path) => {
      if (path === '/elsewhere') return { status: 307, headers: { Location: `${cdn.url}/signed?x=1` } };
      if (path === '/here') return { status: 301, headers: { Location: '/final' } };
      return { status: 200, body: 'same origin' };
    });
  });
  after(() => {
    registry.server.close();
    cdn.server.close();
    registry.server.closeAllConnections();
    cdn.server.closeAllConnections();
  });

  it('when a redirect leads to another origin, then it is followed without the Authorization header; on the same origin the header stays', async () => {
    const away = await transport.send('GET', new URL(`${registry.url}/elsewhere`), { Authorization: 'Bearer secret' }, 5_000);
    assert.equal(away.status, 200);
    assert.equal((await readUpTo(away.body, 1024))?.toString(), 'layer bytes');
    assert.equal(cdn.seen.at(-1)?.path, '/signed?x=1');
    assert.equal(cdn.seen.at(-1)?.headers.authorization, undefined);

    const home = await transport.send('GET', new URL(`${registry.url}/here`), { Authorization: 'Bearer secret' }, 5_000);
    assert.equal((await readUpTo(home.body, 1024))?.toString(), 'same origin');
    assert.equal(registry.seen.at(-1)?.path, '/final');
    assert.equal(registry.seen.at(-1)?.headers.authorization, 'Bearer secret');
  });

  it('when no response comes within the timeout, then the request fails', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      await assert.rejects(transport.send('GET', new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`), {}, 100), /no response within 100 ms/);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
