import type pg from 'pg';
import { KeyedMutex } from '../../core/keyed-mutex.js';
import type { LockService } from '../../core/locks.js';
import { RegistryError } from '../../oci/errors.js';
import { lockKey, withConnection } from './postgres-database.js';

/**
 * The `LockService` of replicas: PostgreSQL session advisory locks, keyed by a 64-bit hash of
 * the key, held on a pooled connection of their own while the section runs. A replica that
 * dies closes its connections, and PostgreSQL releases their locks: nothing stays held.
 *
 * Within a process, sections queue on a `KeyedMutex` first, so one connection at most waits
 * per exclusive key (shared sections each hold the shared lock on a connection of their own). The pool is the lock service's own (not the metadata store's): a section holding a
 * lock must never wait for a connection that another lock holder keeps. Several keys are taken
 * in sorted key order on one connection (hash collisions only serialise more: the locks nest).
 */
export class PostgresLockService implements LockService {
  private readonly local = new KeyedMutex();

  constructor(private readonly pool: pg.Pool) {
    // A lock connection that fails while idle is dropped by the pool; unheard, the error would end the process.
    pool.on('error', () => {});
  }

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.local.run(key, () => this.holding([key], section));
  }

  runShared<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.local.runShared(key, () => this.holding([key], section, 'pg_advisory_lock_shared'));
  }

  runAll<T>(keys: string[], section: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    return this.local.runAll(sorted, () => this.holding(sorted, section));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async holding<T>(keys: string[], section: () => Promise<T>, lock = 'pg_advisory_lock'): Promise<T> {
    return withConnection(this.pool, async (client, connection) => {
      let result: T;
      try {
        for (const key of keys) await client.query(`SELECT ${lock}($1)`, [lockKey(key)]);
        result = await section();
      } finally {
        // Also proves the session, and so every lock, lasted through the section.
        await client.query('SELECT pg_advisory_unlock_all()').catch(connection.failed);
      }
      const lost = connection.failure;
      if (lost) throw new RegistryError('UNAVAILABLE', `lost the database lock on ${keys.join(', ')} while it was held: ${lost.message}`);
      return result;
    });
  }
}
