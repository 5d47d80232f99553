import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const run = promisify(execFile);

/**
 * A single-node Ceph on loopback for S3 tests: one monitor, one memstore OSD (data in RAM),
 * one RADOS Gateway (beast), cephx off. Settings and their reasons are in SCALEOUT.md; the
 * ones that matter most are commented below. Started in a short /tmp directory (admin sockets
 * must fit the unix socket path limit), on a block of ports in the suite's private range,
 * and stopped by the PIDs it recorded.
 */
export interface RunningCeph {
  /** http://127.0.0.1:PORT of the gateway. */
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  /** Where its data and logs (`log/`) are, until `stop`. */
  directory: string;
  /** Milliseconds from the first command to a gateway that answered a PUT and a GET. */
  startedInMs: number;
  /** A fresh, empty bucket (one per suite). */
  createBucket(): Promise<string>;
  /** The daemons' PIDs (monitor, OSD, gateway), for a caller's own backstop. */
  pids: number[];
  stop(): Promise<void>;
}

export interface CephOptions {
  /** Ports to take a block from; default the test suite's range. */
  portRange?: { first: number; last: number };
  /** The memstore OSD's capacity (its data lives in RAM); default 1 GiB. */
  memstoreBytes?: number;
  /**
   * Seconds before the gateway's garbage collector frees the tail of a deleted object; RGW's
   * default is two hours, so a caller that deletes large objects to reuse the memstore sets it low.
   */
  gcMinWaitSeconds?: number;
}

/** Private port range of this test area; one cluster takes a block of PORTS_PER_CLUSTER. */
const PORT_RANGE = { first: 21000, last: 21999 };
const MEMSTORE_BYTES = 1024 * 1024 * 1024;
const PORTS_PER_CLUSTER = 24;
const STOP_GRACE_MS = 3_000;
const READY_DEADLINE_MS = 60_000;
const REGION = 'us-east-1';

export async function startCeph(options: CephOptions = {}): Promise<RunningCeph> {
  const started = performance.now();
  const directory = await mkdtemp('/tmp/bs3-');
  const daemons: ChildProcess[] = [];
  const stopAll = async () => {
    await Promise.all(daemons.map(stopDaemon));
    // Only now: wiping the directory of running daemons would orphan them with their ports bound.
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const ports = await freePortBlock(options.portRange ?? PORT_RANGE);
    const fsid = randomUUID();
    const conf = join(directory, 'ceph.conf');
    for (const sub of ['mon', 'osd', 'rgw', 'run', 'log']) await mkdir(join(directory, sub));
    await writeFile(conf, cephConf(directory, fsid, ports, options));
    const ceph = (command: string, args: string[]) => run(command, ['-c', conf, ...args], { timeout: READY_DEADLINE_MS });

    await run('monmaptool', ['--create', '--add', 'a', `v2:127.0.0.1:${ports.mon}`, '--fsid', fsid, join(directory, 'monmap')]);
    await run('ceph-authtool', ['--create-keyring', join(directory, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    const osdUuid = randomUUID();
    await ceph('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(directory, 'monmap')]);
    daemons.push(await daemon(directory, 'mon', 'ceph-mon', ['-f', '-c', conf, '-i', 'a']));
    // Both ask the monitor (the OSD's mkfs fetches the monmap); they do not depend on each other.
    await Promise.all([ceph('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid]), ceph('ceph', ['--connect-timeout', '30', 'osd', 'new', osdUuid])]);
    daemons.push(await daemon(directory, 'osd', 'ceph-osd', ['-f', '-c', conf, '-i', '0']));
    daemons.push(await daemon(directory, 'rgw', 'radosgw', ['-f', '-c', conf, '-n', 'client.rgw']));

    const endpoint = `http://127.0.0.1:${ports.rgw}`;
    // The gateway creates its pools as it starts; creating the user meanwhile only competes with it.
    await untilAnswering(endpoint, daemons, directory);
    const accessKey = `AK${randomBytes(9).toString('hex').toUpperCase()}`;
    const secretKey = randomBytes(20).toString('base64url');
    await ceph('radosgw-admin', ['user', 'create', '--uid', 'berth-test', '--display-name', 'berth test', '--access-key', accessKey, '--secret-key', secretKey]);
    const client = new S3Client({
      endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const createBucket = async () => {
      const bucket = `berth-${randomBytes(6).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    };
    await untilReady(client, createBucket, daemons, directory);
    return { endpoint, directory, region: REGION, accessKey, secretKey, startedInMs: Math.round(performance.now() - started), createBucket, pids: daemons.map((child) => child.pid!), stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function untilAnswering(endpoint: string, daemons: ChildProcess[], directory: string): Promise<void> {
  const deadline = performance.now() + READY_DEADLINE_MS;
  while (performance.now() < deadline) {
    await failIfDead(daemons, directory);
    if (await fetch(endpoint).then(async (response) => (await response.arrayBuffer(), true), () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50)); // a poll interval, not a synchronisation
  }
  throw new Error(`the RADOS Gateway did not listen within ${READY_DEADLINE_MS} ms:\n${await logTail(directory)}`);
}

async function failIfDead(daemons: ChildProcess[], directory: string): Promise<void> {
  const dead = daemons.find((child) => child.exitCode !== null || child.signalCode !== null);
  if (dead) throw new Error(`a Ceph daemon exited during startup:\n${await logTail(directory)}`);
}

/** Ready means a real object round trip: rgw creates its pools lazily, on the first writes. */
async function untilReady(client: S3Client, createBucket: () => Promise<string>, daemons: ChildProcess[], directory: string): Promise<void> {
  const deadline = performance.now() + READY_DEADLINE_MS;
  let lastError: unknown;
  while (performance.now() < deadline) {
    await failIfDead(daemons, directory);
    try {
      const bucket = await createBucket();
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'ready', Body: 'ready' }));
      const body = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'ready' }))).Body!.transformToString();
      if (body === 'ready') return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100)); // a poll interval, not a synchronisation
  }
  throw new Error(`the RADOS Gateway did not answer within ${READY_DEADLINE_MS} ms (${String(lastError)}):\n${await logTail(directory)}`);
}

async function logTail(directory: string): Promise<string> {
  const parts: string[] = [];
  for (const name of ['mon', 'osd', 'rgw']) {
    const text = await readFile(join(directory, 'log', `${name}.out`), 'utf8').catch(() => '');
    parts.push(`--- ${name}\n${text.split('\n').slice(-15).join('\n')}`);
  }
  return parts.join('\n');
}

async function daemon(directory: string, name: string, command: string, args: string[]): Promise<ChildProcess> {
  const output = await open(join(directory, 'log', `${name}.out`), 'w');
  const child = spawn(command, args, { stdio: ['ignore', output.fd, output.fd] });
  await output.close();
  child.on('error', () => undefined); // surfaces as an exit seen by the ready check
  return child;
}

/** SIGTERM, then SIGKILL after STOP_GRACE_MS (rgw and the OSD sometimes ignore SIGTERM). */
async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

interface Ports {
  mon: number;
  rgw: number;
  messengerFirst: number;
  messengerLast: number;
}

/** A block of ports that are all free now; blocks are tried from a random start so parallel test files rarely collide. */
async function freePortBlock(range: { first: number; last: number }): Promise<Ports> {
  const blocks = Math.floor((range.last - range.first + 1) / PORTS_PER_CLUSTER);
  const offset = Math.floor(Math.random() * blocks);
  for (let i = 0; i < blocks; i += 1) {
    const base = range.first + ((offset + i) % blocks) * PORTS_PER_CLUSTER;
    const all = Array.from({ length: PORTS_PER_CLUSTER }, (_, n) => base + n);
    if ((await Promise.all(all.map(isFree))).every(Boolean)) {
      return { mon: base, rgw: base + 1, messengerFirst: base + 2, messengerLast: base + PORTS_PER_CLUSTER - 1 };
    }
  }
  throw new Error(`no free block of ${PORTS_PER_CLUSTER} ports in ${range.first}-${range.last}`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function cephConf(directory: string, fsid: string, ports: Ports, options: CephOptions): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${ports.mon}
mon initial members = a
public addr = 127.0.0.1
# Without it the OSD binds 0.0.0.0.
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr1 = false
ms bind port min = ${ports.messengerFirst}
ms bind port max = ${ports.messengerLast}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# rgw creates its pools lazily, each a paxos round: 1 s each by default.
paxos propose interval = 0.05
paxos min wait = 0.01
run dir = ${directory}/run
admin socket = ${directory}/run/$name.asok
log file = ${directory}/log/$name.log
keyring = ${directory}/keyring
[mon.a]
mon data = ${directory}/mon
[osd.0]
osd data = ${directory}/osd
osd objectstore = memstore
memstore device bytes = ${options.memstoreBytes ?? MEMSTORE_BYTES}
[client.rgw]
# Without tcp_nodelay small responses (404, 416, ranges) take ~45 ms more.
rgw frontends = beast endpoint=127.0.0.1:${ports.rgw} tcp_nodelay=1
rgw data = ${directory}/rgw
debug rgw = ${process.env.BERTH_CEPH_DEBUG_RGW ?? '1'}
# With cephx off, rgw otherwise loops on get_initial_auth_request returned -13.
ms mon client mode = crc
${options.gcMinWaitSeconds === undefined ? '' : `rgw gc obj min wait = ${options.gcMinWaitSeconds}\nrgw gc processor period = ${Math.max(1, options.gcMinWaitSeconds)}\n`}`;
}
