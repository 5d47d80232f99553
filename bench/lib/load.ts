import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  requestsPerSecond: number;
  requests: number;
  seconds: number;
  /** With `tolerateFailures`: requests answered other than 2xx/3xx (not counted in the rate). */
  failed?: number;
}

/**
 * wrk, closed loop: `threads` threads, `connections` keep-alive connections, fixed duration.
 * Any non-2xx/3xx response or socket error fails the measurement instead of being averaged in.
 */
export async function wrk(url: string, options: { connections: number; threads: number; seconds: number; headers?: Record<string, string>; tolerateFailures?: boolean }): Promise<LoadResult> {
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--latency'];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(url);
  const { stdout } = await run('wrk', args, { timeout: (options.seconds + 30) * 1000 });
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const total = /(\d+) requests in ([\d.]+)(\w+)/.exec(stdout);
  if (!rate || !total) throw new Error(`unexpected wrk output:\n${stdout}`);
  const bad = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  const errors = /Socket errors:.*/.exec(stdout);
  const seconds = Number(total[2]) * (total[3] === 'ms' ? 1e-3 : total[3] === 'm' ? 60 : 1);
  if (options.tolerateFailures) {
    // A subject that cannot answer every request (another server's proxy under load) is rated on what it answered.
    const failed = Number(bad?.[1] ?? 0);
    const answered = Number(total[1]) - failed;
    return { requestsPerSecond: answered / seconds, requests: answered, seconds, failed };
  }
  if (bad || errors) throw new Error(`wrk against ${url} saw failures:\n${stdout}`);
  return { requestsPerSecond: Number(rate[1]), requests: Number(total[1]), seconds };
}

/**
 * A HEAD load generator, because wrk cannot do HEAD: its HTTP parser waits for the body that
 * the response's Content-Length announces, and every HEAD request times out. Same model as
 * wrk: `connections` keep-alive sockets, one request in flight on each, fixed duration; any
 * status other than 200 fails the measurement. One process, like `wrk -t1`.
 */
export async function headLoad(url: string, options: { connections: number; seconds: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const target = new URL(url);
  const extra = Object.entries(options.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const requestText = Buffer.from(`HEAD ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n${extra}\r\n`, 'latin1');
  const port = Number(target.port || 80);

  let completed = 0;
  let measuring = false;
  let stopped = false;
  let failure: Error | undefined;
  const sockets: Socket[] = [];

  await Promise.all(
    Array.from(
      { length: options.connections },
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = connect({ host: target.hostname, port, noDelay: true }, () => resolve());
          socket.once('error', reject);
          sockets.push(socket);
        }),
    ),
  );

  for (const socket of sockets) {
    let pending: Buffer = Buffer.alloc(0);
    socket.removeAllListeners('error');
    socket.on('error', (error) => {
      if (!stopped) failure ??= error;
    });
    socket.on('close', () => {
      if (!stopped) failure ??= new Error('the server closed a connection during the HEAD load');
    });
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) break;
        if (pending.toString('latin1', 0, 12) !== 'HTTP/1.1 200') {
          failure ??= new Error(`HEAD ${url}: ${pending.toString('latin1', 0, Math.min(end, 200))}`);
        }
        pending = pending.subarray(end + 4);
        if (measuring) completed++;
        if (!stopped) socket.write(requestText);
      }
    });
  }

  for (const socket of sockets) socket.write(requestText);
  await new Promise((resolve) => setTimeout(resolve, 250)); // connections warm, then count
  measuring = true;
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const requests = completed;
  measuring = false;
  stopped = true;
  for (const socket of sockets) socket.destroy();
  if (failure) throw failure;
  return { requestsPerSecond: requests / seconds, requests, seconds };
}
