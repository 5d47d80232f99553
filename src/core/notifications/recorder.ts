import type { OutboxRow } from '../../metadata/store.js';
import { EventFactory } from './events.js';
import type { Outbox } from './outbox.js';

/**
 * What repository handles use to describe their changes: the factory builds the journal rows
 * a change writes in its own transaction; `committed` tells the outbox there is work;
 * pulls, when enabled, go to the outbox's in-memory batch.
 */
export class ChangeRecorder {
  constructor(
    readonly events: EventFactory,
    private readonly outbox?: Outbox,
    /** Pull events are wanted (`notifications.events.includepulls`); changes on reload. */
    public pullEvents = false,
  ) {}

  committed(): void {
    this.outbox?.wake();
  }

  pulled(row: OutboxRow | undefined): void {
    if (row) this.outbox?.recordPull(row);
  }
}

/** Records audit entries only (no endpoints): what a registry without notifications uses. */
export function auditOnlyRecorder(instanceId: string, now: () => number): ChangeRecorder {
  return new ChangeRecorder(new EventFactory({ addr: '', instanceId }, () => false, now));
}
