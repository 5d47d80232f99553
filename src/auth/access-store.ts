/**
 * Users, roles and permissions, kept in the metadata database but behind their own small
 * interface (the registry's `MetadataStore` knows nothing of them).
 */
export type RoleAction = 'pull' | 'push' | 'delete' | 'admin';
export const ROLE_ACTIONS: readonly RoleAction[] = ['pull', 'push', 'delete', 'admin'];

/** The role whose permissions clients without credentials get (pull only). */
export const ANONYMOUS_ROLE = 'anonymous';
/** The role created with the first `admin` user: `admin` on `*`. */
export const ADMIN_ROLE = 'admin';

export interface Permission {
  /** Repository name pattern: `team-a/app`, `team-a/*`, `*`. */
  pattern: string;
  actions: RoleAction[];
}

export interface Role {
  name: string;
  description: string;
  permissions: Permission[];
}

export interface User {
  name: string;
  /** bcrypt hash (`$2y$…`). */
  passwordHash: string;
  roles: string[];
  createdAt: number;
  updatedAt: number;
}

export interface AccessStore {
  getUser(name: string): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
  /** Creates the user or replaces its password hash; returns true when created. */
  putUser(name: string, passwordHash: string): Promise<boolean>;
  /** False when there was no such user. */
  deleteUser(name: string): Promise<boolean>;
  /** Replaces the user's roles; every role must exist. False when there is no such user. */
  setUserRoles(name: string, roles: string[]): Promise<boolean>;

  getRole(name: string): Promise<Role | undefined>;
  listRoles(): Promise<Role[]>;
  /** Creates or replaces the role and its permissions; returns true when created. */
  putRole(role: Role): Promise<boolean>;
  deleteRole(name: string): Promise<boolean>;

  /** Every permission the user holds through its roles. */
  permissionsOf(user: string): Promise<Permission[]>;
  /** Permissions of a role (the anonymous role's, on every anonymous request). */
  permissionsOfRole(role: string): Promise<Permission[]>;
  close(): Promise<void>;
}

/** `setUserRoles` named a role that does not exist. */
export class UnknownRoleError extends Error {
  constructor(readonly role: string) {
    super(`no such role "${role}"`);
    this.name = 'UnknownRoleError';
  }
}
