import type { LockService } from './locks.js';

interface Waiter {
  shared: boolean;
  enter: () => void;
}

/** One key's holders: shared sections together, or one exclusive section; waiters in arrival order. */
interface KeyState {
  shared: number;
  exclusive: boolean;
  queue: Waiter[];
}

/**
 * The embedded `LockService`: sections per key in this process, shared ones beside each other
 * and exclusive ones alone. Waiters enter in arrival order, so a stream of shared sections
 * never starves an exclusive one that arrived before them.
 */
export class KeyedMutex implements LockService {
  private readonly keys = new Map<string, KeyState>();

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.hold(key, false, section);
  }

  runShared<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.hold(key, true, section);
  }

  runAll<T>(keys: string[], section: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const enter = (index: number): Promise<T> => (index === sorted.length ? section() : this.run(sorted[index]!, () => enter(index + 1)));
    return enter(0);
  }

  private async hold<T>(key: string, shared: boolean, section: () => Promise<T>): Promise<T> {
    let state = this.keys.get(key);
    if (!state) {
      state = { shared: 0, exclusive: false, queue: [] };
      this.keys.set(key, state);
    }
    if (state.queue.length === 0 && admits(state, shared)) take(state, shared);
    else await new Promise<void>((enter) => state.queue.push({ shared, enter }));
    try {
      return await section();
    } finally {
      if (shared) state.shared -= 1;
      else state.exclusive = false;
      this.admitWaiters(key, state);
    }
  }

  /** Lets in the waiters at the head of the queue that fit beside the holders left. */
  private admitWaiters(key: string, state: KeyState): void {
    while (state.queue.length > 0 && admits(state, state.queue[0]!.shared)) {
      const waiter = state.queue.shift()!;
      take(state, waiter.shared);
      waiter.enter();
    }
    if (state.queue.length === 0 && state.shared === 0 && !state.exclusive) this.keys.delete(key);
  }
}

function admits(state: KeyState, shared: boolean): boolean {
  return shared ? !state.exclusive : !state.exclusive && state.shared === 0;
}

function take(state: KeyState, shared: boolean): void {
  if (shared) state.shared += 1;
  else state.exclusive = true;
}
