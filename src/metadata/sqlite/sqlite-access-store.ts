import Database from 'better-sqlite3';
import { UnknownRoleError, type AccessStore, type Permission, type Role, type RoleAction, type User } from '../../auth/access-store.js';

interface UserRow {
  id: number;
  name: string;
  password_hash: string;
  created_at: number;
  updated_at: number;
}

/**
 * `AccessStore` on the metadata SQLite database (migration 3: users, roles, role_permissions,
 * user_roles). It opens its own connection to the file `SqliteMetadataStore` has already
 * migrated; each method is one short transaction.
 */
export class SqliteAccessStore implements AccessStore {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    const hasUsers = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'").get();
    if (!hasUsers) {
      this.db.close();
      throw new Error(`the metadata database ${path} has no access-control tables: open it with the metadata store first (it migrates)`);
    }
    this.statements = prepare(this.db);
  }

  async getUser(name: string): Promise<User | undefined> {
    const row = this.statements.user.get(name) as UserRow | undefined;
    return row && this.toUser(row);
  }

  async listUsers(): Promise<User[]> {
    return (this.statements.users.all() as UserRow[]).map((row) => this.toUser(row));
  }

  async putUser(name: string, passwordHash: string): Promise<boolean> {
    const now = Date.now();
    return this.db.transaction(() => {
      const existed = this.statements.user.get(name) !== undefined;
      this.statements.upsertUser.run(name, passwordHash, now, now);
      return !existed;
    })();
  }

  async deleteUser(name: string): Promise<boolean> {
    return this.statements.deleteUser.run(name).changes > 0;
  }

  async setUserRoles(name: string, roles: string[]): Promise<boolean> {
    return this.db.transaction(() => {
      const user = this.statements.user.get(name) as UserRow | undefined;
      if (!user) return false;
      const ids = roles.map((role) => {
        const id = this.statements.roleId.get(role) as number | undefined;
        if (id === undefined) throw new UnknownRoleError(role);
        return id;
      });
      this.statements.clearUserRoles.run(user.id);
      for (const id of new Set(ids)) this.statements.addUserRole.run(user.id, id);
      this.statements.touchUser.run(Date.now(), user.id);
      return true;
    })();
  }

  async getRole(name: string): Promise<Role | undefined> {
    const row = this.statements.role.get(name) as { id: number; name: string; description: string } | undefined;
    return row && { name: row.name, description: row.description, permissions: this.rolePermissions(row.id) };
  }

  async listRoles(): Promise<Role[]> {
    const rows = this.statements.roles.all() as { id: number; name: string; description: string }[];
    return rows.map((row) => ({ name: row.name, description: row.description, permissions: this.rolePermissions(row.id) }));
  }

  async putRole(role: Role): Promise<boolean> {
    return this.db.transaction(() => {
      const existing = this.statements.roleId.get(role.name) as number | undefined;
      if (existing === undefined) this.statements.insertRole.run(role.name, role.description, Date.now());
      else this.statements.describeRole.run(role.description, existing);
      const id = (existing ?? this.statements.roleId.get(role.name)) as number;
      this.statements.clearPermissions.run(id);
      for (const permission of role.permissions) this.statements.addPermission.run(id, permission.pattern, permission.actions.join(','));
      return existing === undefined;
    })();
  }

  async deleteRole(name: string): Promise<boolean> {
    return this.statements.deleteRole.run(name).changes > 0;
  }

  async permissionsOf(user: string): Promise<Permission[]> {
    return (this.statements.permissionsOfUser.all(user) as { pattern: string; actions: string }[]).map(toPermission);
  }

  async permissionsOfRole(role: string): Promise<Permission[]> {
    return (this.statements.permissionsOfRole.all(role) as { pattern: string; actions: string }[]).map(toPermission);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private rolePermissions(roleId: number): Permission[] {
    return (this.statements.permissionsByRoleId.all(roleId) as { pattern: string; actions: string }[]).map(toPermission);
  }

  private toUser(row: UserRow): User {
    return {
      name: row.name,
      passwordHash: row.password_hash,
      roles: this.statements.rolesOfUser.all(row.id) as string[],
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

function toPermission(row: { pattern: string; actions: string }): Permission {
  return { pattern: row.pattern, actions: row.actions.split(',').filter((action) => action !== '') as RoleAction[] };
}

function prepare(db: Database.Database) {
  return {
    user: db.prepare('SELECT * FROM users WHERE name = ?'),
    users: db.prepare('SELECT * FROM users ORDER BY name'),
    upsertUser: db.prepare(
      `INSERT INTO users (name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`,
    ),
    touchUser: db.prepare('UPDATE users SET updated_at = ? WHERE id = ?'),
    deleteUser: db.prepare('DELETE FROM users WHERE name = ?'),
    rolesOfUser: db.prepare('SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.name').pluck(),
    clearUserRoles: db.prepare('DELETE FROM user_roles WHERE user_id = ?'),
    addUserRole: db.prepare('INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    role: db.prepare('SELECT id, name, description FROM roles WHERE name = ?'),
    roles: db.prepare('SELECT id, name, description FROM roles ORDER BY name'),
    roleId: db.prepare('SELECT id FROM roles WHERE name = ?').pluck(),
    insertRole: db.prepare('INSERT INTO roles (name, description, created_at) VALUES (?, ?, ?)'),
    describeRole: db.prepare('UPDATE roles SET description = ? WHERE id = ?'),
    deleteRole: db.prepare('DELETE FROM roles WHERE name = ?'),
    clearPermissions: db.prepare('DELETE FROM role_permissions WHERE role_id = ?'),
    addPermission: db.prepare('INSERT INTO role_permissions (role_id, pattern, actions) VALUES (?, ?, ?)'),
    permissionsByRoleId: db.prepare('SELECT pattern, actions FROM role_permissions WHERE role_id = ? ORDER BY pattern'),
    permissionsOfUser: db.prepare(
      `SELECT p.pattern, p.actions FROM users u
       JOIN user_roles ur ON ur.user_id = u.id
       JOIN role_permissions p ON p.role_id = ur.role_id
       WHERE u.name = ?`,
    ),
    permissionsOfRole: db.prepare('SELECT p.pattern, p.actions FROM roles r JOIN role_permissions p ON p.role_id = r.id WHERE r.name = ?'),
  };
}
