import { access, rm, writeFile } from 'node:fs/promises';
import { RegistryError } from '../oci/errors.js';
import { ADMIN_ROLE, ANONYMOUS_ROLE, ROLE_ACTIONS, UnknownRoleError, type AccessStore, type Permission, type Role, type RoleAction } from './access-store.js';
import { isValidUserName } from './htpasswd.js';
import { hashPassword, randomPassword } from './passwords.js';
import { isValidPattern } from './patterns.js';

/**
 * User and role management, shared by the CLI and the admin API: validation, hashing, and the
 * rules that keep the registry manageable (the built-in roles stay, the last administrator
 * stays). Errors are `RegistryError`s: NAME_INVALID for bad input, NOT_FOUND for unknown names,
 * DENIED for what the rules forbid.
 */
export interface UserView {
  name: string;
  roles: string[];
  createdAt: string;
  updatedAt: string;
}

const MAX_PASSWORD_BYTES = 72; // bcrypt ignores what follows
/** The user the first start creates; its generated password is kept in `initialPasswordFile`. */
const INITIAL_ADMIN = 'admin';

export interface AccountsOptions {
  /** Where the first start writes the generated admin password; removed once it stops being true. */
  initialPasswordFile: string;
  /** Called after any change (the credential cache forgets what it verified). */
  changed?: () => void;
}

export class Accounts {
  private readonly initialPasswordFile: string;
  private readonly changed: () => void;

  constructor(
    private readonly store: AccessStore,
    options: AccountsOptions,
  ) {
    this.initialPasswordFile = options.initialPasswordFile;
    this.changed = options.changed ?? (() => {});
  }

  async listUsers(): Promise<UserView[]> {
    return (await this.store.listUsers()).map(view);
  }

  async getUser(name: string): Promise<UserView> {
    const user = await this.store.getUser(name);
    if (!user) throw new RegistryError('NOT_FOUND', `no such user "${printable(name)}"`);
    return view(user);
  }

  /** Creates or updates a user; `roles` replaces its roles when given. Returns true when created. */
  async putUser(name: string, password: string | undefined, roles?: string[]): Promise<boolean> {
    if (!isValidUserName(name)) throw new RegistryError('NAME_INVALID', `invalid user name "${printable(name)}": letters, digits and . _ @ -, up to 128, starting with a letter or digit`);
    const existing = await this.store.getUser(name);
    if (!existing && password === undefined) throw new RegistryError('NAME_INVALID', 'a new user needs a password');
    if (password !== undefined) checkPassword(password);
    if (roles) await this.checkRoles(roles);
    const created = await this.store.putUser(name, password === undefined ? existing!.passwordHash : await hashPassword(password));
    if (password !== undefined) await this.forgetInitialPassword(name);
    if (roles) await this.setRolesChecked(name, roles);
    this.changed();
    return created;
  }

  /** The first start's generated password is still in use: the UI has the administrator replace it first. */
  async mustChangePassword(name: string): Promise<boolean> {
    if (name !== INITIAL_ADMIN) return false;
    return access(this.initialPasswordFile).then(() => true, () => false);
  }

  async setPassword(name: string, password: string): Promise<void> {
    const user = await this.store.getUser(name);
    if (!user) throw new RegistryError('NOT_FOUND', `no such user "${printable(name)}"`);
    checkPassword(password);
    await this.store.putUser(name, await hashPassword(password));
    await this.forgetInitialPassword(name);
    this.changed();
  }

  async setRoles(name: string, roles: string[]): Promise<void> {
    await this.checkRoles(roles);
    if (!(await this.store.getUser(name))) throw new RegistryError('NOT_FOUND', `no such user "${printable(name)}"`);
    await this.setRolesChecked(name, roles);
    this.changed();
  }

  async removeUser(name: string): Promise<void> {
    const user = await this.store.getUser(name);
    if (!user) throw new RegistryError('NOT_FOUND', `no such user "${printable(name)}"`);
    if (await this.isLastAdministrator(name)) throw new RegistryError('DENIED', `"${name}" is the last administrator; make another one first`);
    await this.store.deleteUser(name);
    await this.forgetInitialPassword(name);
    this.changed();
  }

  listRoles(): Promise<Role[]> {
    return this.store.listRoles();
  }

  async getRole(name: string): Promise<Role> {
    const role = await this.store.getRole(name);
    if (!role) throw new RegistryError('NOT_FOUND', `no such role "${printable(name)}"`);
    return role;
  }

  /** Creates or replaces a role. Returns true when created. */
  async putRole(name: string, description: string, permissions: Permission[]): Promise<boolean> {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) throw new RegistryError('NAME_INVALID', `invalid role name "${printable(name)}": lowercase letters, digits and . _ -, up to 64`);
    if (name === ADMIN_ROLE) throw new RegistryError('DENIED', 'the admin role is built in and cannot be changed');
    const checked = permissions.map(checkPermission);
    if (name === ANONYMOUS_ROLE && checked.some((permission) => permission.actions.some((action) => action !== 'pull'))) {
      throw new RegistryError('DENIED', 'the anonymous role can only grant pull');
    }
    const created = await this.store.putRole({ name, description, permissions: checked });
    this.changed();
    return created;
  }

  async removeRole(name: string): Promise<void> {
    if (name === ADMIN_ROLE || name === ANONYMOUS_ROLE) throw new RegistryError('DENIED', `the ${name} role is built in and cannot be removed`);
    if (!(await this.store.deleteRole(name))) throw new RegistryError('NOT_FOUND', `no such role "${printable(name)}"`);
    this.changed();
  }

  /**
   * First start: when there are no users at all, creates `admin` with a random password, writes
   * the password to the initial password file (mode 0600) and returns it so the caller prints it
   * once. The file is removed when that password changes or the user is removed.
   */
  async bootstrap(): Promise<{ user: string; password: string; file: string } | undefined> {
    if ((await this.store.listUsers()).length > 0) return undefined;
    const password = randomPassword();
    await writeFile(this.initialPasswordFile, `${password}\n`, { mode: 0o600 });
    await this.store.putUser(INITIAL_ADMIN, await hashPassword(password));
    await this.store.setUserRoles(INITIAL_ADMIN, [ADMIN_ROLE]);
    return { user: INITIAL_ADMIN, password, file: this.initialPasswordFile };
  }

  /** A stale password in a file is a leak with no use: once it no longer works, it goes. */
  private async forgetInitialPassword(name: string): Promise<void> {
    if (name === INITIAL_ADMIN) await rm(this.initialPasswordFile, { force: true });
  }

  private async checkRoles(roles: string[]): Promise<void> {
    for (const role of roles) {
      if (role === ANONYMOUS_ROLE) throw new RegistryError('DENIED', 'the anonymous role is for clients without credentials; it cannot be given to a user');
      if (!(await this.store.getRole(role))) throw new RegistryError('NOT_FOUND', `no such role "${printable(role)}"`);
    }
  }

  private async setRolesChecked(name: string, roles: string[]): Promise<void> {
    if (!roles.includes(ADMIN_ROLE) && (await this.isLastAdministrator(name))) {
      throw new RegistryError('DENIED', `"${name}" is the last administrator; make another one first`);
    }
    try {
      await this.store.setUserRoles(name, roles);
    } catch (error) {
      if (error instanceof UnknownRoleError) throw new RegistryError('NOT_FOUND', error.message);
      throw error;
    }
  }

  private async isLastAdministrator(name: string): Promise<boolean> {
    const users = await this.store.listUsers();
    const admins = users.filter((user) => user.roles.includes(ADMIN_ROLE)).map((user) => user.name);
    return admins.length === 1 && admins[0] === name;
  }
}

function checkPassword(password: string): void {
  if (password.length < 8) throw new RegistryError('NAME_INVALID', 'a password needs at least 8 characters');
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new RegistryError('NAME_INVALID', `a password may have at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)`);
}

/** `team-a/*=pull,push` or a { pattern, actions } object, validated. */
export function checkPermission(permission: { pattern: unknown; actions: unknown }): Permission {
  const { pattern, actions } = permission;
  if (typeof pattern !== 'string' || !isValidPattern(pattern)) throw new RegistryError('NAME_INVALID', `invalid repository pattern "${printable(String(pattern))}": a name, "team-a/*" or "*"`);
  if (!Array.isArray(actions) || actions.length === 0 || actions.some((action) => !ROLE_ACTIONS.includes(action as RoleAction))) {
    throw new RegistryError('NAME_INVALID', `invalid actions for "${pattern}": a non-empty list of ${ROLE_ACTIONS.join(', ')}`);
  }
  return { pattern, actions: [...new Set(actions as RoleAction[])] };
}

export function parsePermission(text: string): Permission {
  const equals = text.lastIndexOf('=');
  if (equals <= 0) throw new RegistryError('NAME_INVALID', `invalid permission "${printable(text)}": write pattern=actions, e.g. "team-a/*=pull,push"`);
  return checkPermission({ pattern: text.slice(0, equals), actions: text.slice(equals + 1).split(',') });
}

function view(user: { name: string; roles: string[]; createdAt: number; updatedAt: number }): UserView {
  return { name: user.name, roles: user.roles, createdAt: new Date(user.createdAt).toISOString(), updatedAt: new Date(user.updatedAt).toISOString() };
}

function printable(value: string): string {
  const cleaned = value.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > 100 ? `${cleaned.slice(0, 100)}…` : cleaned;
}
