import type { AccessStore } from './access-store.js';
import { prevailingCost } from './passwords.js';
import type { PasswordSource, StoredCredential } from './passwords-source.js';

/**
 * Users in the access store as a password source. The prevailing bcrypt cost is recomputed at
 * most once per `costRecheckMs` (Berth hashes every password at one cost, so it rarely moves).
 */
export class DatabasePasswords implements PasswordSource {
  private cost: { value: number | undefined; at: number } | undefined;

  constructor(
    private readonly store: AccessStore,
    private readonly costRecheckMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async lookup(name: string): Promise<StoredCredential | undefined> {
    const user = await this.store.getUser(name);
    return user && { name: user.name, hash: user.passwordHash, source: 'database' };
  }

  async prevailingCost(): Promise<number | undefined> {
    if (!this.cost || this.now() - this.cost.at >= this.costRecheckMs) {
      const users = await this.store.listUsers();
      this.cost = { value: prevailingCost(users.map((user) => user.passwordHash)), at: this.now() };
    }
    return this.cost.value;
  }
}
