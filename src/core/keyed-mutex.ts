import type { LockService } from './locks.js';

/** A section waiting for its keys: it enters once every key has admitted it. */
interface Ticket {
  shared: boolean;
  waitingFor: number;
  enter: () => void;
}

/** One key's holders (shared sections together, or one exclusive section) and its waiters in arrival order. */
interface KeyState {
  shared: number;
  exclusive: boolean;
  queue: Ticket[];
}

/**
 * The embedded `LockService`: sections per key in this process, shared ones beside each other
 * and exclusive ones alone. A section queues on all its keys in one synchronous step and each
 * key admits its waiters in arrival order, so a section only ever waits for sections that
 * queued before it: no cycle, no deadlock, and a stream of shared sections never starves an
 * exclusive one that arrived first. A lock set of thousands of keys costs a queue entry each.
 */
export class KeyedMutex implements LockService {
  private readonly keys = new Map<string, KeyState>();

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.hold([key], false, section);
  }

  runShared<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.hold([key], true, section);
  }

  runAll<T>(keys: string[], section: () => Promise<T>): Promise<T> {
    return this.hold([...new Set(keys)], false, section);
  }

  private async hold<T>(keys: string[], shared: boolean, section: () => Promise<T>): Promise<T> {
    const entered = this.queue(keys, shared);
    if (entered) await entered;
    try {
      return await section();
    } finally {
      for (const key of keys) {
        const state = this.keys.get(key)!;
        if (shared) state.shared -= 1;
        else state.exclusive = false;
        this.admitWaiters(key, state);
      }
    }
  }

  /** Takes every key that admits the section now and queues on the rest; a promise when it must wait. */
  private queue(keys: string[], shared: boolean): Promise<void> | undefined {
    const ticket: Ticket = { shared, waitingFor: 0, enter: () => undefined };
    for (const key of keys) {
      let state = this.keys.get(key);
      if (!state) {
        state = { shared: 0, exclusive: false, queue: [] };
        this.keys.set(key, state);
      }
      if (state.queue.length === 0 && admits(state, shared)) take(state, shared);
      else {
        state.queue.push(ticket);
        ticket.waitingFor += 1;
      }
    }
    if (ticket.waitingFor === 0) return undefined;
    return new Promise<void>((enter) => (ticket.enter = enter));
  }

  /** Lets in the waiters at the head of the key's queue that fit beside its holders. */
  private admitWaiters(key: string, state: KeyState): void {
    while (state.queue.length > 0 && admits(state, state.queue[0]!.shared)) {
      const ticket = state.queue.shift()!;
      take(state, ticket.shared);
      ticket.waitingFor -= 1;
      if (ticket.waitingFor === 0) ticket.enter();
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
