import { UnknownRoleError, type AccessStore, type Permission, type Role, type RoleAction, type User } from '../../auth/access-store.js';
import type { SqlDatabase, SqlExecutor } from './database.js';

interface UserRow {
  id: number;
  name: string;
  password_hash: string;
  created_at: number;
  updated_at: number;
}

/** Named columns, never `*` (see `statements.ts`). */
const USER_COLUMNS = 'id, name, password_hash, created_at, updated_at';

const SQL = {
  user: `SELECT ${USER_COLUMNS} FROM users WHERE name = ?`,
  users: `SELECT ${USER_COLUMNS} FROM users ORDER BY name`,
  upsertUser: `INSERT INTO users (name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`,
  touchUser: 'UPDATE users SET updated_at = ? WHERE id = ?',
  deleteUser: 'DELETE FROM users WHERE name = ?',
  rolesOfUser: 'SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.name',
  clearUserRoles: 'DELETE FROM user_roles WHERE user_id = ?',
  addUserRole: 'INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
  role: 'SELECT id, name, description FROM roles WHERE name = ?',
  roles: 'SELECT id, name, description FROM roles ORDER BY name',
  roleId: 'SELECT id FROM roles WHERE name = ?',
  insertRole: 'INSERT INTO roles (name, description, created_at) VALUES (?, ?, ?)',
  describeRole: 'UPDATE roles SET description = ? WHERE id = ?',
  deleteRole: 'DELETE FROM roles WHERE name = ?',
  clearPermissions: 'DELETE FROM role_permissions WHERE role_id = ?',
  addPermission: 'INSERT INTO role_permissions (role_id, pattern, actions) VALUES (?, ?, ?)',
  permissionsByRoleId: 'SELECT pattern, actions FROM role_permissions WHERE role_id = ? ORDER BY pattern',
  permissionsOfUser: `SELECT p.pattern, p.actions FROM users u
                      JOIN user_roles ur ON ur.user_id = u.id
                      JOIN role_permissions p ON p.role_id = ur.role_id
                      WHERE u.name = ? ORDER BY p.pattern`,
  permissionsOfRole: 'SELECT p.pattern, p.actions FROM roles r JOIN role_permissions p ON p.role_id = r.id WHERE r.name = ? ORDER BY p.pattern',
};

/**
 * `AccessStore` on the metadata database (migration 3: users, roles, role_permissions,
 * user_roles), sharing the metadata store's connection or pool, which has migrated it and
 * which closes it. Each method is one short transaction or statement.
 */
export class SqlAccessStore implements AccessStore {
  constructor(
    private readonly db: SqlDatabase,
    private readonly clock: () => number = Date.now,
  ) {}

  async getUser(name: string): Promise<User | undefined> {
    const row = await this.db.get<UserRow>(SQL.user, [name]);
    return row && this.toUser(this.db, row);
  }

  async listUsers(): Promise<User[]> {
    const users: User[] = [];
    for (const row of await this.db.all<UserRow>(SQL.users)) users.push(await this.toUser(this.db, row));
    return users;
  }

  async putUser(name: string, passwordHash: string): Promise<boolean> {
    const now = this.clock();
    return this.db.transaction(async (tx) => {
      const existed = (await tx.get(SQL.user, [name])) !== undefined;
      await tx.run(SQL.upsertUser, [name, passwordHash, now, now]);
      return !existed;
    });
  }

  async deleteUser(name: string): Promise<boolean> {
    return (await this.db.run(SQL.deleteUser, [name])) > 0;
  }

  async setUserRoles(name: string, roles: string[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const user = await tx.get<UserRow>(SQL.user, [name]);
      if (!user) return false;
      const ids = new Set<number>();
      for (const role of roles) {
        const row = await tx.get<{ id: number }>(SQL.roleId, [role]);
        if (!row) throw new UnknownRoleError(role);
        ids.add(row.id);
      }
      await tx.run(SQL.clearUserRoles, [user.id]);
      for (const id of ids) await tx.run(SQL.addUserRole, [user.id, id]);
      await tx.run(SQL.touchUser, [this.clock(), user.id]);
      return true;
    });
  }

  async getRole(name: string): Promise<Role | undefined> {
    const row = await this.db.get<{ id: number; name: string; description: string }>(SQL.role, [name]);
    return row && { name: row.name, description: row.description, permissions: await this.rolePermissions(row.id) };
  }

  async listRoles(): Promise<Role[]> {
    const roles: Role[] = [];
    for (const row of await this.db.all<{ id: number; name: string; description: string }>(SQL.roles)) {
      roles.push({ name: row.name, description: row.description, permissions: await this.rolePermissions(row.id) });
    }
    return roles;
  }

  async putRole(role: Role): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const existing = (await tx.get<{ id: number }>(SQL.roleId, [role.name]))?.id;
      if (existing === undefined) await tx.run(SQL.insertRole, [role.name, role.description, this.clock()]);
      else await tx.run(SQL.describeRole, [role.description, existing]);
      const id = existing ?? (await tx.get<{ id: number }>(SQL.roleId, [role.name]))!.id;
      await tx.run(SQL.clearPermissions, [id]);
      for (const permission of role.permissions) await tx.run(SQL.addPermission, [id, permission.pattern, permission.actions.join(',')]);
      return existing === undefined;
    });
  }

  async deleteRole(name: string): Promise<boolean> {
    return (await this.db.run(SQL.deleteRole, [name])) > 0;
  }

  async permissionsOf(user: string): Promise<Permission[]> {
    return (await this.db.all<{ pattern: string; actions: string }>(SQL.permissionsOfUser, [user])).map(toPermission);
  }

  async permissionsOfRole(role: string): Promise<Permission[]> {
    return (await this.db.all<{ pattern: string; actions: string }>(SQL.permissionsOfRole, [role])).map(toPermission);
  }

  /** The database belongs to the metadata store, which closes it. */
  async close(): Promise<void> {}

  private async rolePermissions(roleId: number): Promise<Permission[]> {
    return (await this.db.all<{ pattern: string; actions: string }>(SQL.permissionsByRoleId, [roleId])).map(toPermission);
  }

  private async toUser(db: SqlExecutor, row: UserRow): Promise<User> {
    const roles = await db.all<{ name: string }>(SQL.rolesOfUser, [row.id]);
    return { name: row.name, passwordHash: row.password_hash, roles: roles.map((role) => role.name), createdAt: row.created_at, updatedAt: row.updated_at };
  }
}

function toPermission(row: { pattern: string; actions: string }): Permission {
  return { pattern: row.pattern, actions: row.actions.split(',').filter((action) => action !== '') as RoleAction[] };
}
