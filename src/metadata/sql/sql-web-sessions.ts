import type { WebSessionIndex, WebSessionRow } from '../store.js';
import type { SqlDatabase } from './database.js';

interface Row {
  id_hash: string;
  user_name: string | null;
  principal: string;
  operator: number;
  csrf: string;
  must_change_password: number;
  created_at: number;
  last_used_at: number;
}

const COLUMNS = 'id_hash, user_name, principal, operator, csrf, must_change_password, created_at, last_used_at';

const SQL = {
  insert: `INSERT INTO web_sessions (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  select: `SELECT ${COLUMNS} FROM web_sessions WHERE id_hash = ?`,
  touch: 'UPDATE web_sessions SET last_used_at = ? WHERE id_hash = ? AND last_used_at < ?',
  delete: 'DELETE FROM web_sessions WHERE id_hash = ?',
  deleteOfUser: 'DELETE FROM web_sessions WHERE user_name = ?',
  deleteExpired: 'DELETE FROM web_sessions WHERE last_used_at < ? OR created_at < ?',
};

/** `WebSessionIndex` on the metadata database (migration 9); one statement per call. */
export class SqlWebSessionStore implements WebSessionIndex {
  constructor(private readonly db: SqlDatabase) {}

  async insertWebSession(row: WebSessionRow): Promise<void> {
    await this.db.run(SQL.insert, [row.idHash, row.userName, row.principal, row.operator ? 1 : 0, row.csrf, row.mustChangePassword ? 1 : 0, row.createdAt, row.lastUsedAt]);
  }

  async webSession(idHash: string): Promise<WebSessionRow | undefined> {
    const row = await this.db.get<Row>(SQL.select, [idHash]);
    if (!row) return undefined;
    return {
      idHash: row.id_hash, userName: row.user_name, principal: row.principal, operator: row.operator === 1, csrf: row.csrf,
      mustChangePassword: row.must_change_password === 1, createdAt: Number(row.created_at), lastUsedAt: Number(row.last_used_at),
    };
  }

  async touchWebSession(idHash: string, at: number): Promise<void> {
    await this.db.run(SQL.touch, [at, idHash, at]);
  }

  async deleteWebSession(idHash: string): Promise<void> {
    await this.db.run(SQL.delete, [idHash]);
  }

  async deleteWebSessionsOf(userName: string): Promise<void> {
    await this.db.run(SQL.deleteOfUser, [userName]);
  }

  deleteExpiredWebSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return this.db.run(SQL.deleteExpired, [idleBefore, createdBefore]);
  }
}
