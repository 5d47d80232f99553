import { readFileSync, renameSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { openAccounts } from '../app-auth.js';
import { parsePermission } from '../auth/accounts.js';
import { htpasswdLine, isValidUserName, parseHtpasswd } from '../auth/htpasswd.js';
import { hashPassword, randomPassword } from '../auth/passwords.js';
import { loadConfig } from '../config/load.js';
import { RegistryError } from '../oci/errors.js';
import { UsageError, parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';

const HTPASSWD_USAGE = `  berth htpasswd [-f FILE] USER [PASSWORD]
                             print (or with -f, add or replace in FILE) a bcrypt entry like
                             htpasswd -Bbn; the password is read from stdin when not given`;
const USER_USAGE = `  berth user add USER [--password-stdin] [--role ROLE]... [--config config.yml]
  berth user passwd USER [--password-stdin] [--config config.yml]
  berth user roles USER ROLE... [--config config.yml]
  berth user rm USER [--config config.yml]
  berth user list [--config config.yml]
                             users in the registry database (auth.accounts or auth.token);
                             without --password-stdin a random password is generated and printed`;
const ROLE_USAGE = `  berth role set ROLE PATTERN=ACTIONS... [--description TEXT] [--config config.yml]
                             e.g. berth role set team-a 'team-a/*=pull,push' ; actions: pull,
                             push, delete, admin; role "anonymous" grants pull to everyone
  berth role rm ROLE | berth role list [--config config.yml]`;

export const ACCESS_USAGE = [HTPASSWD_USAGE, USER_USAGE, ROLE_USAGE].join('\n');

const HTPASSWD_COMMAND = {
  help: `usage:\n${HTPASSWD_USAGE}`,
  options: { file: { type: 'string', short: 'f' } },
  positionals: { min: 1, max: 2 },
} satisfies CommandSpec<OptionsConfig>;

// The action and its operands are positionals; each action checks how many it takes.
const USER_COMMAND = {
  help: `usage:\n${USER_USAGE}`,
  options: {
    config: { type: 'string', short: 'c' },
    'password-stdin': { type: 'boolean' },
    role: { type: 'string', multiple: true },
  },
  positionals: { min: 1, max: Infinity },
} satisfies CommandSpec<OptionsConfig>;

const ROLE_COMMAND = {
  help: `usage:\n${ROLE_USAGE}`,
  options: {
    config: { type: 'string', short: 'c' },
    description: { type: 'string' },
  },
  positionals: { min: 1, max: Infinity },
} satisfies CommandSpec<OptionsConfig>;

interface Options {
  positional: string[];
  passwordStdin: boolean;
  roles: string[];
  description?: string;
}

/**
 * The `berth user passwd` command line that opens the same database as a server started with
 * `configPath` from `cwd`, quoted for a POSIX shell: the config path made absolute so it works
 * from any directory; without a config file the defaults (./data) are relative, so it first
 * changes to the server's directory.
 */
export function passwdCommandLine(user: string, configPath: string | undefined, cwd = process.cwd()): string {
  const command = ['berth', 'user', 'passwd', user];
  if (configPath === undefined) return `cd ${shellQuote(cwd)} && ${command.map(shellQuote).join(' ')}`;
  return [...command, '--config', resolve(cwd, configPath)].map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

function readStdinPassword(): string {
  const text = readFileSync(0, 'utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') throw new UsageError('no password on stdin');
  return line;
}

/** `berth htpasswd`: the same line `htpasswd -Bbn USER PASSWORD` prints. */
export async function htpasswdCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(HTPASSWD_COMMAND, args);
  if (!parsed) return 0;
  const [user, given] = parsed.positionals as [string, string?];
  const file = parsed.values.file;
  if (!isValidUserName(user)) throw new UsageError(`invalid user name "${user}"`);
  const password = given ?? readStdinPassword();
  const line = htpasswdLine(user, await hashPassword(password));
  if (!file) {
    console.log(line);
    return 0;
  }
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const kept = existing.split(/\r?\n/).filter((entry) => entry !== '' && !entry.startsWith(`${user}:`));
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o600;
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${[...kept, line].join('\n')}\n`, { mode });
  renameSync(temporary, file);
  const { users } = parseHtpasswd(readFileSync(file, 'utf8'));
  console.error(`${existing.includes(`${user}:`) ? 'updated' : 'added'} ${user} in ${file} (${users.size} users)`);
  return 0;
}

/** `berth user …` and `berth role …` against the configured database. */
export async function accessCommand(kind: 'user' | 'role', args: string[]): Promise<number> {
  const spec = kind === 'user' ? USER_COMMAND : ROLE_COMMAND;
  const parsed = kind === 'user' ? parseCommand(USER_COMMAND, args) : parseCommand(ROLE_COMMAND, args);
  if (!parsed) return 0;
  const [action, ...positional] = parsed.positionals;
  const values: { config?: string; 'password-stdin'?: boolean; role?: string[]; description?: string } = parsed.values;
  const options: Options = { positional, passwordStdin: values['password-stdin'] === true, roles: values.role ?? [], description: values.description };
  // Checked before the database is opened: a mistake changes nothing.
  checkAction(kind, action!, positional.length, Object.keys(values), spec.help);
  const { config } = loadConfig(values.config);
  const { accounts, close } = await openAccounts(config);
  try {
    return kind === 'user' ? await userCommand(action, options, accounts) : await roleCommand(action, options, accounts);
  } catch (error) {
    if (error instanceof RegistryError) {
      console.error(`berth: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await close();
  }
}

/** How many operands each action takes after `berth user|role ACTION`, and which flags besides --config. */
interface ActionShape {
  min: number;
  max: number;
  flags?: string[];
}
const ACTIONS: Record<'user' | 'role', Record<string, ActionShape>> = {
  user: {
    list: { min: 0, max: 0 },
    add: { min: 1, max: 1, flags: ['password-stdin', 'role'] },
    passwd: { min: 1, max: 1, flags: ['password-stdin'] },
    roles: { min: 1, max: Infinity },
    rm: { min: 1, max: 1 },
  },
  role: { list: { min: 0, max: 0 }, set: { min: 1, max: Infinity, flags: ['description'] }, rm: { min: 1, max: 1 } },
};

function checkAction(kind: 'user' | 'role', action: string, operands: number, flags: string[], help: string): void {
  const shape = ACTIONS[kind][action];
  if (!shape) throw new UsageError(`unknown ${kind} command "${action}" (${Object.keys(ACTIONS[kind]).join(', ')})`, help);
  if (operands > shape.max) throw new UsageError(`unexpected argument for "berth ${kind} ${action}"`, help);
  if (operands < shape.min) throw new UsageError(`missing argument for "berth ${kind} ${action}"`, help);
  const misplaced = flags.find((flag) => flag !== 'config' && !shape.flags?.includes(flag));
  if (misplaced) throw new UsageError(`"berth ${kind} ${action}" takes no --${misplaced}`, help);
}

type AccountsApi = Awaited<ReturnType<typeof openAccounts>>['accounts'];

// checkAction has made sure each action has its operands.
async function userCommand(action: string | undefined, options: Options, accounts: AccountsApi): Promise<number> {
  const [name, ...more] = options.positional as [string, ...string[]];
  switch (action) {
    case 'list':
      for (const user of await accounts.listUsers()) console.log(`${user.name}\t${user.roles.join(',') || '-'}`);
      return 0;
    case 'add':
    case 'passwd': {
      const generated = options.passwordStdin ? undefined : randomPassword();
      const password = generated ?? readStdinPassword();
      if (action === 'add') {
        const created = await accounts.putUser(name, password, options.roles.length > 0 ? options.roles : undefined);
        console.error(`${created ? 'created' : 'updated'} user ${name}`);
      } else {
        await accounts.setPassword(name, password);
        console.error(`changed the password of ${name}`);
      }
      if (generated) console.log(generated);
      return 0;
    }
    case 'roles':
      await accounts.setRoles(name, more);
      console.error(`${name} now has roles: ${more.join(', ') || '(none)'}`);
      return 0;
    case 'rm':
      await accounts.removeUser(name);
      console.error(`removed user ${name}`);
      return 0;
    default:
      throw new UsageError(`unknown user command "${action ?? ''}" (add, passwd, roles, rm, list)`);
  }
}

async function roleCommand(action: string | undefined, options: Options, accounts: AccountsApi): Promise<number> {
  const [name, ...permissions] = options.positional as [string, ...string[]];
  switch (action) {
    case 'list':
      for (const role of await accounts.listRoles()) {
        const grants = role.permissions.map((permission) => `${permission.pattern}=${permission.actions.join(',')}`).join(' ');
        console.log(`${role.name}\t${grants || '-'}\t${role.description}`);
      }
      return 0;
    case 'set':
      await accounts.putRole(name, options.description ?? '', permissions.map(parsePermission));
      console.error(`role ${name} saved`);
      return 0;
    case 'rm':
      await accounts.removeRole(name);
      console.error(`removed role ${name}`);
      return 0;
    default:
      throw new UsageError(`unknown role command "${action ?? ''}" (set, rm, list)`);
  }
}

