import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';

/**
 * Child processes the benchmark starts. Every one is recorded (in memory and, when run.sh set
 * BENCH_PIDFILE, in that file for its trap) and stopped by its own PID.
 */
export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<Child>();

/**
 * Processes that helpers start on their own (Ceph's daemons, a PostgreSQL cluster): their PIDs
 * count as the benchmark's own CPU and go in the PID file, and stopAll stops them their way.
 */
interface Adopted {
  pids: number[];
  stop(): Promise<void>;
}
const adopted = new Set<Adopted>();

function recordPids(): void {
  const file = process.env.BENCH_PIDFILE;
  if (!file) return;
  writeFileSync(file, benchPids().map((pid) => `${pid}\n`).join(''));
}

/** Registers processes started elsewhere; the returned stop stops them once and forgets them. */
export function adopt(pids: number[], stop: () => Promise<void>): () => Promise<void> {
  const entry: Adopted = {
    pids,
    async stop() {
      if (!adopted.delete(entry)) return;
      recordPids();
      await stop();
    },
  };
  adopted.add(entry);
  recordPids();
  return () => entry.stop();
}

/** Every process the benchmark started and still runs: its children and the adopted ones. */
export function benchPids(): number[] {
  return [...[...running].map((child) => child.pid), ...[...adopted].flatMap((entry) => entry.pids)];
}

export function spawnChild(name: string, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 64_000) output = output.slice(-32_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const handle: Child = {
    name,
    pid: child.pid,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        const timer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
        }, 5_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(handle);
      recordPids();
    },
  };
  running.add(handle);
  recordPids();
  return handle;
}

export async function stopAll(): Promise<void> {
  await Promise.allSettled([...[...running].map((child) => child.stop()), ...[...adopted].map((entry) => entry.stop())]);
}

/** A free TCP port on 127.0.0.1 (for servers that cannot report an ephemeral port back). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls until `url` answers any HTTP status, or fails after `timeoutMs` (or if the child exits). */
export async function waitForHttp(url: string, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(`${child.name} exited before answering on ${url}:\n${child.output()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const req = request(url, { method: 'GET', agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.once('error', () => resolve(false));
      req.setTimeout(1_000, () => req.destroy());
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not answer on ${url} within ${timeoutMs} ms:\n${child.output()}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Memory of a process, from /proc/<pid>/status (KiB → MiB). */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(match[1]) / 1024;
  };
  return { rssMiB: field('VmRSS'), hwmMiB: field('VmHWM') };
}

/** Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`); false when not permitted. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime field 15 → indices 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

/** CPU seconds (cutime + cstime) of the children a process has waited for. */
function reapedChildrenCpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Samples VmRSS every `intervalMs` until stopped; returns the maximum seen. */
export function sampleRss(pid: number, intervalMs = 20): { stop(): number } {
  let max = 0;
  const take = () => {
    try {
      max = Math.max(max, memoryOf(pid).rssMiB);
    } catch {
      // process gone; the caller will notice
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return max;
    },
  };
}

/**
 * CPU seconds of a process and all its descendants (nginx's worker is a child of the PID we
 * hold), including those that have exited and been reaped (PostgreSQL's backends come and go
 * with the connections of the replicas' pools): without them the sum could go down.
 */
export function treeCpuSecondsOf(pid: number): number {
  let total = 0;
  const visit = (current: number) => {
    try {
      total += cpuSecondsOf(current) + reapedChildrenCpuSecondsOf(current);
      for (const task of readdirSync(`/proc/${current}/task`)) {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(/\s+/) : []) visit(Number(child));
      }
    } catch {
      // exited meanwhile
    }
  };
  visit(pid);
  return total;
}

/**
 * On-CPU seconds of every live thread of a process, from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds): for short samples where /proc/<pid>/stat's 10 ms ticks are too coarse.
 */
export function preciseCpuSecondsOf(pid: number): number {
  let nanoseconds = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return nanoseconds / 1e9;
}

/** CPU seconds of this process plus the children it has reaped (wrk, sync). */
export function selfCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
}

/** Busy CPU seconds of the whole machine (user + nice + system + steal; irq time is not charged to tasks). */
export function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  return ((cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[7] ?? 0)) / 100;
}
