import { readFileSync, statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isBcryptHash, prevailingCost } from './passwords.js';
import type { PasswordSource, StoredCredential } from './passwords-source.js';

/**
 * An htpasswd file as registry:2 reads it: `user:$2y$…` lines (bcrypt only), blank lines and
 * `#` comments ignored. registry:2 loads other schemes (`{SHA}`, `$apr1$`, crypt, plain) but its
 * bcrypt comparison always fails for them; Berth skips them with a warning at load, so such a
 * user is exactly an unknown user: never accepted, checked against the dummy hash. The file is re-read when its inode, size or modification time change
 * (checked at most once per `recheckMs`), so edits apply without a restart; a file that
 * becomes unreadable keeps the last good contents.
 */
export interface HtpasswdEvents {
  reloaded(users: number, skipped: string[]): void;
  failed(error: Error): void;
}

export class HtpasswdFile implements PasswordSource {
  private users = new Map<string, string>();
  private cost: number | undefined;
  private signature = '';
  private checkedAt = 0;
  private checking: Promise<void> | undefined;
  private readonly listeners: (() => void)[] = [];

  /** Reads the file now; throws if it cannot (a broken auth config must stop startup). */
  constructor(
    readonly path: string,
    private readonly events: HtpasswdEvents,
    private readonly recheckMs = 1000,
    /** Milliseconds since the epoch; tests pass their own to step past `recheckMs`. */
    private readonly clock: () => number = Date.now,
  ) {
    let stats: Stats;
    let text: string;
    try {
      stats = statSync(path);
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`cannot read htpasswd file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    this.load(text, stats);
    this.checkedAt = this.clock();
  }

  /** Called after each reload (the credential cache forgets everything it verified). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  async lookup(name: string): Promise<StoredCredential | undefined> {
    await this.refresh();
    const hash = this.users.get(name);
    return hash === undefined ? undefined : { name, hash, source: 'htpasswd' };
  }

  /** Recomputed on every reload: `htpasswd -B` writes cost 5 unless told otherwise with -C. */
  async prevailingCost(): Promise<number | undefined> {
    await this.refresh();
    return this.cost;
  }

  /** Re-reads the file if it changed; concurrent callers share one check. */
  async refresh(force = false): Promise<void> {
    if (!force && this.clock() - this.checkedAt < this.recheckMs) return;
    this.checking ??= this.check().finally(() => {
      this.checking = undefined;
      this.checkedAt = this.clock();
    });
    await this.checking;
  }

  private async check(): Promise<void> {
    try {
      const stats = await stat(this.path);
      if (signatureOf(stats) === this.signature) return;
      this.load(readFileSync(this.path, 'utf8'), stats);
      for (const listener of this.listeners) listener();
    } catch (error) {
      this.events.failed(error as Error);
    }
  }

  private load(text: string, stats: Stats): void {
    const { users, skipped } = parseHtpasswd(text);
    this.users = users;
    this.cost = prevailingCost(users.values());
    this.signature = signatureOf(stats);
    this.events.reloaded(users.size, skipped);
  }
}

function signatureOf(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

/** Users with bcrypt hashes; `skipped` names the lines that were not usable (never their content). */
export function parseHtpasswd(text: string): { users: Map<string, string>; skipped: string[] } {
  const users = new Map<string, string>();
  const skipped: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    const hash = colon > 0 ? line.slice(colon + 1) : '';
    if (name === '' || !isBcryptHash(hash)) {
      skipped.push(`line ${index + 1}${name ? ` (user "${name}")` : ''}: not a bcrypt entry`);
      return;
    }
    users.set(name, hash);
  });
  return { users, skipped };
}

/** One htpasswd line, as `htpasswd -Bbn` prints it. */
export function htpasswdLine(name: string, hash: string): string {
  return `${name}:${hash}`;
}

/** A user name htpasswd and Basic authentication can carry (no `:`, no control characters). */
export function isValidUserName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name);
}
