import { readFileSync, renameSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { openAccounts } from '../app-auth.js';
import { parsePermission } from '../auth/accounts.js';
import { htpasswdLine, isValidUserName, parseHtpasswd } from '../auth/htpasswd.js';
import { hashPassword, randomPassword } from '../auth/passwords.js';
import { loadConfig } from '../config/load.js';
import { RegistryError } from '../oci/errors.js';

export const ACCESS_USAGE = `  berth htpasswd [-f FILE] USER [PASSWORD]
                             print (or with -f, add or replace in FILE) a bcrypt entry like
                             htpasswd -Bbn; the password is read from stdin when not given
  berth user add USER [--password-stdin] [--role ROLE]... [--config config.yml]
  berth user passwd USER [--password-stdin] [--config config.yml]
  berth user roles USER ROLE... [--config config.yml]
  berth user rm USER [--config config.yml]
  berth user list [--config config.yml]
                             users in the registry database (auth.accounts or auth.token);
                             without --password-stdin a random password is generated and printed
  berth role set ROLE PATTERN=ACTIONS... [--description TEXT] [--config config.yml]
                             e.g. berth role set team-a 'team-a/*=pull,push' ; actions: pull,
                             push, delete, admin; role "anonymous" grants pull to everyone
  berth role rm ROLE | berth role list [--config config.yml]`;

interface Options {
  positional: string[];
  config?: string;
  passwordStdin: boolean;
  roles: string[];
  description?: string;
  file?: string;
}

function parseOptions(args: string[]): Options {
  const options: Options = { positional: [], passwordStdin: false, roles: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === '--config' || arg === '-c') options.config = value();
    else if (arg === '--password-stdin') options.passwordStdin = true;
    else if (arg === '--role') options.roles.push(value());
    else if (arg === '--description') options.description = value();
    else if (arg === '-f' || arg === '--file') options.file = value();
    else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
    else options.positional.push(arg);
  }
  return options;
}

export class UsageError extends Error {}

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
  const options = parseOptions(args);
  const [user, given] = options.positional;
  if (!user || options.positional.length > 2) throw new UsageError('usage: berth htpasswd [-f FILE] USER [PASSWORD]');
  if (!isValidUserName(user)) throw new UsageError(`invalid user name "${user}"`);
  const password = given ?? readStdinPassword();
  const line = htpasswdLine(user, await hashPassword(password));
  if (!options.file) {
    console.log(line);
    return 0;
  }
  const existing = existsSync(options.file) ? readFileSync(options.file, 'utf8') : '';
  const kept = existing.split(/\r?\n/).filter((entry) => entry !== '' && !entry.startsWith(`${user}:`));
  const mode = existsSync(options.file) ? statSync(options.file).mode & 0o777 : 0o600;
  const temporary = `${options.file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${[...kept, line].join('\n')}\n`, { mode });
  renameSync(temporary, options.file);
  const { users } = parseHtpasswd(readFileSync(options.file, 'utf8'));
  console.error(`${existing.includes(`${user}:`) ? 'updated' : 'added'} ${user} in ${options.file} (${users.size} users)`);
  return 0;
}

/** `berth user …` and `berth role …` against the configured database. */
export async function accessCommand(kind: 'user' | 'role', args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const options = parseOptions(rest);
  const { config } = loadConfig(options.config);
  const { accounts, close } = openAccounts(config.database.path);
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

type AccountsApi = ReturnType<typeof openAccounts>['accounts'];

async function userCommand(action: string | undefined, options: Options, accounts: AccountsApi): Promise<number> {
  const [name, ...more] = options.positional;
  switch (action) {
    case 'list':
      for (const user of await accounts.listUsers()) console.log(`${user.name}\t${user.roles.join(',') || '-'}`);
      return 0;
    case 'add':
    case 'passwd': {
      if (!name || more.length > 0) throw new UsageError(`usage: berth user ${action} USER [--password-stdin]`);
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
      if (!name) throw new UsageError('usage: berth user roles USER ROLE...');
      await accounts.setRoles(name, more);
      console.error(`${name} now has roles: ${more.join(', ') || '(none)'}`);
      return 0;
    case 'rm':
      if (!name || more.length > 0) throw new UsageError('usage: berth user rm USER');
      await accounts.removeUser(name);
      console.error(`removed user ${name}`);
      return 0;
    default:
      throw new UsageError(`unknown user command "${action ?? ''}" (add, passwd, roles, rm, list)`);
  }
}

async function roleCommand(action: string | undefined, options: Options, accounts: AccountsApi): Promise<number> {
  const [name, ...permissions] = options.positional;
  switch (action) {
    case 'list':
      for (const role of await accounts.listRoles()) {
        const grants = role.permissions.map((permission) => `${permission.pattern}=${permission.actions.join(',')}`).join(' ');
        console.log(`${role.name}\t${grants || '-'}\t${role.description}`);
      }
      return 0;
    case 'set':
      if (!name) throw new UsageError('usage: berth role set ROLE PATTERN=ACTIONS...');
      await accounts.putRole(name, options.description ?? '', permissions.map(parsePermission));
      console.error(`role ${name} saved`);
      return 0;
    case 'rm':
      if (!name || permissions.length > 0) throw new UsageError('usage: berth role rm ROLE');
      await accounts.removeRole(name);
      console.error(`removed role ${name}`);
      return 0;
    default:
      throw new UsageError(`unknown role command "${action ?? ''}" (set, rm, list)`);
  }
}

