/**
 * The runtime's own limit for pushes: a minimal Node upload handler. PUT /<name> receives the
 * body, hashes it with sha256 and writes it to a file — nothing else (no routing, no
 * metadata, no rename). `?fsync=1` also fsyncs the file before answering, the durability both
 * registries give a blob. Usage: node --import tsx bench/upload-server.ts <port> <directory>
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const [portArg, directory] = process.argv.slice(2);
if (!portArg || !directory) throw new Error('usage: upload-server.ts <port> <directory>');

let sequence = 0;
const server = createServer({ requestTimeout: 0 }, (req, res) => {
  if (req.method !== 'PUT') {
    res.statusCode = req.method === 'GET' ? 200 : 405;
    res.end();
    return;
  }
  const fsync = (req.url ?? '').includes('fsync=1');
  const hash = createHash('sha256');
  const file = createWriteStream(join(directory, `upload-${process.pid}-${sequence++}`), { flush: fsync, highWaterMark: 1024 * 1024 });
  pipeline(
    req,
    async function* tap(chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        yield chunk;
      }
    },
    file,
  ).then(
    () => {
      res.statusCode = 201;
      res.setHeader('Docker-Content-Digest', `sha256:${hash.digest('hex')}`);
      res.setHeader('Content-Length', 0);
      res.end();
    },
    (error: Error) => {
      res.statusCode = 500;
      res.end(error.message);
    },
  );
});
// The benchmark's keep-alive agent may leave a connection idle longer than Node's 5 s default
// between samples; closing it then races the next request ("socket hang up").
server.keepAliveTimeout = 120_000;
server.listen(Number(portArg), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
