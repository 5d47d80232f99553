import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { OciClient } from '../support/oci-client.js';
import { startServer, type RunningServer } from '../support/server.js';

/** Resolves when the server writes a log line whose message starts with `message` (after now). */
function logLine(server: RunningServer, message: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`no "${message}" line:\n${server.output()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split('\n')) {
        try {
          const entry = JSON.parse(line) as { msg?: string };
          if (entry.msg?.startsWith(message)) {
            clearTimeout(timer);
            server.process.stdout!.off('data', onData);
            resolve(entry);
            return;
          }
        } catch {
          // a partial line
        }
      }
    };
    server.process.stdout!.on('data', onData);
  });
}

function baseConfig(server: { dataDir: string }): Record<string, unknown> {
  return {
    version: 0.1,
    log: { level: 'info', accesslog: { disabled: true } },
    http: { addr: '127.0.0.1:0' },
    storage: { filesystem: { rootdirectory: join(server.dataDir, 'storage') }, delete: { enabled: true } },
  };
}

describe('berth serve and signals', () => {
  const servers: RunningServer[] = [];
  let receiver: Server | undefined;
  after(async () => {
    for (const server of servers) {
      await server.stop();
      await server.cleanup();
    }
    receiver?.closeAllConnections();
    receiver?.close();
  });

  it('when the configuration changes and Berth gets SIGHUP, then policies and notification endpoints apply without a restart', async () => {
    const server = await startServer();
    servers.push(server);
    const client = new OciClient(server.url);
    await client.pushImage('frozen/app', 'v1', ['frozen-one']);

    const events: string[] = [];
    let arrived: () => void = () => undefined;
    const delivered = new Promise<void>((resolve) => (arrived = resolve));
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        res.end();
        for (const event of (JSON.parse(body) as { events: { target: { repository: string; tag?: string } }[] }).events) {
          events.push(`${event.target.repository}:${event.target.tag}`);
        }
        arrived();
      });
    });
    await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;

    // The port changes too: that one is reported as needing a restart, and the listener stays.
    await writeFile(join(server.dataDir, 'config.yml'), stringify({
      ...baseConfig(server),
      http: { addr: '127.0.0.1:1' },
      policies: [{ match: 'frozen/*', deployment: 'read-only' }],
      notifications: { endpoints: [{ name: 'hook', url: `http://127.0.0.1:${port}/`, ignoredmediatypes: ['application/octet-stream'] }] },
    }));
    const reloaded = logLine(server, 'configuration reloaded');
    process.kill(server.pid, 'SIGHUP');
    const entry = await reloaded;
    assert.deepEqual(entry.applied, ['policies', 'notifications']);
    assert.deepEqual(entry.restartNeeded, ['http']);

    const refused = await client.putManifest('frozen/app', 'v2', '{}', 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(refused.status, 403);
    await client.pushImage('open/app', 'v1', ['open-one']);
    await delivered;
    assert.deepEqual(events, ['open/app:v1']);
  });

  it('when Berth gets SIGTERM during a chunk upload, then the request finishes, the server exits and the upload resumes after a restart', async () => {
    const server = await startServer();
    servers.push(server);
    const client = new OciClient(server.url);
    const location = await client.startUpload('drain/app');
    const url = new URL(location, server.url);
    const first = Buffer.alloc(64 * 1024, 1);
    const second = Buffer.alloc(64 * 1024, 2);

    const answered = new Promise<{ status: number; range?: string }>((resolve, reject) => {
      const req = request(url, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, range: res.headers.range }));
      });
      req.on('error', reject);
      req.write(first, () => {
        const shuttingDown = logLine(server, 'shutting down');
        process.kill(server.pid, 'SIGTERM');
        void shuttingDown.then(() => req.end(second));
      });
    });
    const result = await answered;
    assert.equal(result.status, 202);
    assert.equal(result.range, `0-${first.length + second.length - 1}`);
    await new Promise<void>((resolve) => (server.process.exitCode !== null ? resolve() : server.process.once('exit', () => resolve())));
    assert.equal(server.process.exitCode, 0);

    const restarted = await startServer({ dataDir: server.dataDir });
    servers.push(restarted);
    const status = await fetch(new URL(url.pathname, restarted.url));
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${first.length + second.length - 1}`);
  });
});
