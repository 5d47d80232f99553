import type { AccessStore } from './access-store.js';
import type { PasswordSource, StoredCredential } from './passwords-source.js';

/** Users in the access store as a password source. */
export class DatabasePasswords implements PasswordSource {
  constructor(private readonly store: AccessStore) {}

  async lookup(name: string): Promise<StoredCredential | undefined> {
    const user = await this.store.getUser(name);
    return user && { name: user.name, hash: user.passwordHash, source: 'database' };
  }
}
