import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { clientSteps } from '../tls/auto-tls.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { ACCESS_USAGE, accessCommand, htpasswdCommand, passwdCommandLine } from './access.js';
import { UsageError, parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';
import { GC_USAGE, garbageCollect } from './garbage-collect.js';
import { IMPORT_USAGE, importCommand } from './import.js';
import { REPOSITORY_USAGE, repositoryCommand } from './repository.js';
import { CLEANUP_USAGE, USAGE_USAGE, cleanupCommand, usageCommand } from './lifecycle.js';
import { MIGRATE_USAGE, migrateCommand } from './migrate.js';
import { MIGRATE_STORAGE_USAGE, migrateStorageCommand } from './migrate-storage.js';

const USAGE = `Berth — a private container image registry

Usage:
  berth serve [config.yml]   serve the registry (defaults: :5000, storage in ./data)
  ${GC_USAGE}
                             reclaim space, online (beside a running server or without one)
  ${IMPORT_USAGE}
                             serve a registry:2 storage tree's images without a re-push
  ${REPOSITORY_USAGE}
                             remove a whole repository (garbage-collect then frees its space)
  ${CLEANUP_USAGE}
                             apply the retention rules of policies: (preview with --dry-run)
  ${USAGE_USAGE}     storage used per repository
  ${MIGRATE_USAGE}   bring the metadata database's schema up to date (serve does it at start)
  ${MIGRATE_STORAGE_USAGE}
                             move a stopped registry to other storage and database (e.g. S3 + PostgreSQL)
${ACCESS_USAGE}
  berth help [COMMAND]       show this text, or a command's help (also: berth COMMAND --help)
  berth --version            print the version

Configuration uses registry:2's config.yml keys and REGISTRY_* environment overrides.`;

const SERVE_COMMAND = {
  help: `usage: berth serve [config.yml]

Serves the registry (defaults: :5000, storage in ./data). Stops on SIGINT or SIGTERM: requests in
flight get http.draintimeout (default 10s) to finish. SIGHUP re-reads the configuration and applies
repository policies, notification endpoints and the log level (the htpasswd file is re-read whenever
it changes); other changes are logged as needing a restart.`,
  options: {},
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

const HELP_COMMAND = {
  help: 'usage: berth help [COMMAND]',
  options: {},
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  serve,
  'garbage-collect': (args) => garbageCollect(args),
  import: (args) => importCommand(args),
  repository: (args) => repositoryCommand(args),
  cleanup: (args) => cleanupCommand(args),
  usage: (args) => usageCommand(args),
  migrate: (args) => migrateCommand(args),
  'migrate-storage': (args) => migrateStorageCommand(args),
  htpasswd: htpasswdCommand,
  user: (args) => accessCommand('user', args),
  role: (args) => accessCommand('role', args),
  help,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    console.error(USAGE);
    return 2;
  }
  if (command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    console.log(version());
    return 0;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    console.error(`berth: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`berth: ${error.message}${error.usage ? `\n\n${error.usage}` : ''}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      console.error(`berth: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

/** `berth help [COMMAND]`: the overview, or what `berth COMMAND --help` prints. */
async function help(args: string[]): Promise<number> {
  const parsed = parseCommand(HELP_COMMAND, args);
  if (!parsed) return 0;
  const [command] = parsed.positionals;
  if (command === undefined) {
    console.log(USAGE);
    return 0;
  }
  if (command === 'help' || !Object.hasOwn(COMMANDS, command)) throw new UsageError(`unknown command "${command}"`, USAGE);
  return COMMANDS[command]!(['--help']);
}

/** The version in package.json (two levels above both src/cli and dist/cli). */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

async function serve(args: string[]): Promise<number> {
  const parsed = parseCommand(SERVE_COMMAND, args);
  if (!parsed) return 0;
  const loaded = loadConfig(parsed.positionals[0]);
  // Loaded here, not at the top: other commands need not load the HTTP server.
  const { createApp, createLogger } = await import('../app.js');
  const { describeDatabase } = await import('../app-stores.js');
  const log = createLogger(loaded.config);
  for (const warning of loaded.warnings) log.warn(warning);
  const app = await createApp(loaded.config, log);
  const { url, initialAdmin, tlsAuto } = await app.listen();
  if (tlsAuto) {
    // Printed on the terminal for the operator; also served at /berth/tls and /berth/ca.crt.
    const hostPort = new URL(url).host.replace(/^0\.0\.0\.0(?=:)/, hostname());
    process.stderr.write(`\nCA certificate SHA-256 fingerprint: ${tlsAuto.caFingerprint}\n${clientSteps(hostPort, tlsAuto.caPath)}\n`);
  }
  if (initialAdmin) {
    // Printed once on the terminal, never through the logger.
    process.stderr.write(
      `\nBerth created the user "${initialAdmin.user}" with password:\n\n    ${initialAdmin.password}\n\n` +
        `It is also in ${initialAdmin.file} (mode 0600). Change it with: ${passwdCommandLine(initialAdmin.user, parsed.positionals[0])}\n\n`,
    );
  }
  const storage = loaded.config.storage.s3 ? app.registry.blobs.driver.description : loaded.config.storage.driver.rootDirectory;
  log.info(
    { url, storage, database: describeDatabase(loaded.config), deleteEnabled: loaded.config.storage.deleteEnabled },
    `listening on ${url}; storage in ${storage}`,
  );

  const reload = () => {
    try {
      const next = loadConfig(parsed.positionals[0]);
      for (const warning of next.warnings) log.warn(warning);
      app.reload(next.config).then(
        ({ applied, restartNeeded }) => {
          log.info({ applied, restartNeeded }, 'configuration reloaded');
          if (restartNeeded.length > 0) log.warn({ restartNeeded }, 'these configuration changes take effect after a restart');
        },
        (error: unknown) => log.error({ err: error }, 'configuration reload failed; the previous configuration stays'),
      );
    } catch (error) {
      log.error({ error: (error as Error).message }, 'configuration reload refused; the previous configuration stays');
    }
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGHUP', reload);
  await app.close();
  return 0;
}

/** Runs the command line (from the entry point, main.cts); the process's exit code is its answer. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error('berth: fatal:', error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
