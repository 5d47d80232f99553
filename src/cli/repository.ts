import { loadConfig } from '../config/load.js';
import { Registry } from '../core/registry.js';
import { PolicyBook } from '../core/repository-policies.js';
import { parseRepositoryName } from '../oci/names.js';
import { RegistryError } from '../oci/errors.js';
import { parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';
import { callServer, ServerCommandError } from './control-client.js';
import { withDataDirectory } from './data-directory.js';

/**
 * `berth repository rm NAME [config.yml]`: removes a whole repository — its tags, manifests,
 * links and uploads — through the running server when there is one. The next garbage
 * collection frees what only it used.
 */
export const REPOSITORY_USAGE = 'berth repository rm NAME [config.yml]';

const REPOSITORY_COMMAND = {
  help: `usage: ${REPOSITORY_USAGE}

Removes a whole repository (tags, manifests, blob links, uploads in progress), as storage.delete
allows; run berth garbage-collect afterwards to free what only it used.`,
  options: {},
  positionals: { min: 2, max: 3 },
} satisfies CommandSpec<OptionsConfig>;

export async function repositoryCommand(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(REPOSITORY_COMMAND, args, out);
  if (!parsed) return 0;
  const [action, rawName, configPath] = parsed.positionals as [string, string, string | undefined];
  if (action !== 'rm') {
    err.write(`berth: unknown action "${action}"\n\n${REPOSITORY_COMMAND.help}\n`);
    return 2;
  }
  const { config, warnings } = loadConfig(configPath);
  for (const warning of warnings) err.write(`warning: ${warning}\n`);
  try {
    const name = parseRepositoryName(rawName);
    const result = await withDataDirectory(
      config,
      (socket) => callServer<{ repository: string; uploadsCancelled: number }>(socket, 'DELETE', `/repositories/${encodeURIComponent(name)}`),
      async (stores) => {
        const registry = new Registry(stores, { deleteEnabled: config.storage.deleteEnabled, readOnly: config.storage.readOnly }, new PolicyBook(config.policies));
        return registry.deleteRepository(name);
      },
    );
    out.write(`removed repository ${result.repository} (${result.uploadsCancelled} uploads cancelled); berth garbage-collect frees its space\n`);
    return 0;
  } catch (error) {
    if (error instanceof ServerCommandError || error instanceof RegistryError) {
      err.write(`berth: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

