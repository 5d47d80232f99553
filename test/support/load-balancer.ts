import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * nginx in front of several replicas, round robin, as a user would put a load balancer in
 * front of `berth serve` replicas: request and response bodies streamed (not buffered), the
 * client's Host passed on (replicas build upload locations from it), no retries elsewhere
 * (a request that reached a replica which died fails, as it would in production).
 * Stopped by its master's PID.
 */
export interface LoadBalancer {
  url: string;
  host: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startLoadBalancer(replicaHosts: string[]): Promise<LoadBalancer> {
  const directory = await mkdtemp(join(tmpdir(), 'berth-lb-'));
  for (const sub of ['body', 'proxy', 'logs']) await mkdir(join(directory, sub), { recursive: true });
  const port = await freePort();
  const conf = `
user root;
worker_processes 1;
pid ${join(directory, 'nginx.pid')};
error_log ${join(directory, 'logs', 'error.log')} warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(directory, 'body')};
  proxy_temp_path ${join(directory, 'proxy')};
  upstream replicas {
${replicaHosts.map((host) => `    server ${host} max_fails=0;`).join('\n')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_next_upstream off;
      proxy_read_timeout 300s;
    }
  }
}
`;
  const confPath = join(directory, 'nginx.conf');
  await writeFile(confPath, conf);
  const child: ChildProcess = spawn('nginx', ['-p', directory, '-c', confPath, '-e', join(directory, 'logs', 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${output}`);
    const up = await fetch(`${url}/v2/`).then((response) => response.status > 0, () => false);
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not answer within 10 s: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
