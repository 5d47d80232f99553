#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=4
// The flags above: see "V8 heap flags" in docs/architecture.md. Launchers that run this file
// through `node` (the test harness, the benchmark) read the flags from this line.
import { createApp, createLogger } from '../app.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { ACCESS_USAGE, UsageError, accessCommand, htpasswdCommand } from './access.js';
import { GC_USAGE, garbageCollect } from './garbage-collect.js';
import { IMPORT_USAGE, importCommand } from './import.js';
import { CLEANUP_USAGE, USAGE_USAGE, cleanupCommand, usageCommand } from './lifecycle.js';

const USAGE = `Berth — a private container image registry

Usage:
  berth serve [config.yml]   serve the registry (defaults: :5000, storage in ./data)
  ${GC_USAGE}
                             reclaim space of a stopped registry (a running one collects online)
  ${IMPORT_USAGE}
                             adopt a registry:2 tree in the storage root (serve does it at start)
  ${CLEANUP_USAGE}
                             apply the retention rules of policies: (preview with --dry-run)
  ${USAGE_USAGE}     storage used per repository
${ACCESS_USAGE}
  berth help                 show this text

Configuration uses registry:2's config.yml keys and REGISTRY_* environment overrides.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest[0]);
    case 'garbage-collect':
      return withConfigErrors(() => garbageCollect(rest));
    case 'import':
      return withConfigErrors(() => importCommand(rest));
    case 'cleanup':
      return withConfigErrors(() => cleanupCommand(rest));
    case 'usage':
      return withConfigErrors(() => usageCommand(rest));
    case 'htpasswd':
      return withConfigErrors(() => htpasswdCommand(rest));
    case 'user':
    case 'role':
      return withConfigErrors(() => accessCommand(command, rest));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function withConfigErrors(command: () => Promise<number>): Promise<number> {
  try {
    return await command();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(`berth: ${error.message}`);
      return error instanceof UsageError ? 2 : 1;
    }
    throw error;
  }
}

async function serve(configPath: string | undefined): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig(configPath);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`berth: ${error.message}`);
      return 1;
    }
    throw error;
  }
  const log = createLogger(loaded.config);
  for (const warning of loaded.warnings) log.warn(warning);
  const app = createApp(loaded.config, log);
  const { url, initialAdmin } = await app.listen();
  if (initialAdmin) {
    // Printed once on the terminal, never through the logger.
    process.stderr.write(
      `\nBerth created the user "${initialAdmin.user}" with password:\n\n    ${initialAdmin.password}\n\n` +
        `It is also in ${initialAdmin.file} (mode 0600). Change it with: berth user passwd ${initialAdmin.user}\n\n`,
    );
  }
  log.info(
    { url, storage: loaded.config.storage.driver.rootDirectory, database: loaded.config.database.path, deleteEnabled: loaded.config.storage.deleteEnabled },
    `listening on ${url}; storage in ${loaded.config.storage.driver.rootDirectory}`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('berth: fatal:', error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
