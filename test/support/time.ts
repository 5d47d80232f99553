import type { Scheduler } from '../../src/core/time.js';

/** A clock that moves only when the test says so. */
export class ManualClock {
  constructor(private nowMs = Date.now()) {}

  readonly now = (): number => this.nowMs;

  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** A scheduler whose tasks run only when the test triggers them by name. */
export class ManualScheduler implements Scheduler {
  private readonly tasks = new Map<string, () => Promise<unknown>>();

  every(name: string, _intervalMs: number, task: () => Promise<unknown>): () => void {
    this.tasks.set(name, task);
    return () => this.tasks.delete(name);
  }

  /** Runs the task now and waits for it; throws if nothing scheduled it (so a test fails if the app never did). */
  async run(name: string): Promise<void> {
    const task = this.tasks.get(name);
    if (!task) throw new Error(`no task "${name}" is scheduled (scheduled: ${[...this.tasks.keys()].join(', ') || 'none'})`);
    await task();
  }
}

/** Polls `condition` until it holds; rejects once `timeoutMs` has passed without it. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
