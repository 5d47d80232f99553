import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { openPostgresDatabase, type PostgresDatabase, type PostgresSettings } from '../../src/metadata/postgres/postgres-database.js';
import { waitFor } from './time.js';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';

/**
 * PostgreSQL 15 from Debian for a test file: a throwaway cluster (trust auth, no fsync) on a
 * free loopback port, its socket inside the test's folder, stopped by its postmaster's PID. One
 * server serves every suite of a file: each suite asks for a database of its own.
 */
export interface RunningPostgres {
  port: number;
  /** The postmaster's PID. */
  pid: number;
  /**
   * Creates an empty database and returns how to reach it. `collation`: an ICU locale for its
   * default collation (`en-US` sorts `_`, `V0`, `a` unlike byte order), where the default is C.
   */
  createDatabase(name: string, options?: { collation?: string }): Promise<PostgresSettings>;
  /** A pool on a database made by `createDatabase`, as Berth opens one. */
  open(settings: PostgresSettings): PostgresDatabase;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<RunningPostgres> {
  if (!existsSync(join(BIN, 'initdb'))) throw new Error('PostgreSQL 15 is not installed: run scripts/install-test-deps.sh (Debian package postgresql)');
  const dir = await mkdtemp(join(tmpdir(), 'berth-pg-'));
  // initdb refuses to run as root: the cluster belongs to the postgres user.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? await postgresUser() : undefined;
  const as = (command: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args]) : run(join(BIN, command), args));
  const data = join(dir, 'data');
  const socket = join(dir, 'run');
  await mkdir(socket);
  if (owner) for (const path of [dir, socket]) await chown(path, owner.uid, owner.gid);
  let pid: number | undefined;
  try {
    await as('initdb', ['-D', data, '--auth=trust', '--no-sync', '-U', 'postgres', '--locale=C', '-E', 'UTF8']);
    const port = await freePort();
    const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${socket} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
    await as('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
    pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const base = { host: '127.0.0.1', port, user: 'postgres' };
    const stop = async () => {
      try {
        await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '10', 'stop']);
      } catch {
        kill(pid!, 'SIGTERM');
        await waitFor(() => !alive(pid!), 3_000).catch(() => kill(pid!, 'SIGKILL'));
      }
      await rm(dir, { recursive: true, force: true });
    };
    return {
      port,
      pid,
      async createDatabase(name, options = {}) {
        const client = new pg.Client({ ...base, database: 'postgres' });
        await client.connect();
        try {
          const collation = options.collation ? ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${options.collation.replace(/'/g, '')}'` : '';
          await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"${collation}`);
        } finally {
          await client.end();
        }
        return { ...base, database: name };
      },
      open: (settings) => openPostgresDatabase(settings, `postgresql test database ${settings.database}`),
      stop,
    };
  } catch (error) {
    if (pid !== undefined && alive(pid)) kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** A port free at this moment (the server binds it a moment later; nothing else here takes ports at random). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * One server for the whole test file, started before its first suite and stopped after its
 * last (call at the top level). Returns the running server, for hooks and tests.
 */
export function postgresForThisFile(): () => RunningPostgres {
  let running: RunningPostgres | undefined;
  before(async () => {
    running = await startPostgres();
  });
  after(async () => {
    await running?.stop();
  });
  return () => {
    if (!running) throw new Error('PostgreSQL is not running: postgresForThisFile() starts it in the file-level before hook');
    return running;
  };
}
