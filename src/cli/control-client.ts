import { request } from 'node:http';
import { createInterface } from 'node:readline';

/** The server answered a control request with an error (its code and message). */
export class ServerCommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServerCommandError';
  }
}

/**
 * Calls the running server's control socket (see http/control-api.ts): each `{"progress"}` line
 * goes to `onProgress`; resolves with the final `{"result"}`, rejects with its `{"error"}`.
 */
export function callServer<Result>(socketPath: string, method: string, path: string, onProgress: (progress: unknown) => void = () => undefined): Promise<Result> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let settled = false;
      const lines = createInterface({ input: res });
      lines.on('line', (line) => {
        if (line.trim() === '') return;
        const message = JSON.parse(line) as { progress?: unknown; result?: Result; error?: { code: string; message: string } };
        if (message.progress !== undefined) onProgress(message.progress);
        else if (message.error) {
          settled = true;
          reject(new ServerCommandError(message.error.code, message.error.message));
        } else if ('result' in message) {
          settled = true;
          resolve(message.result as Result);
        }
      });
      lines.on('close', () => {
        if (!settled) reject(new Error('the server closed the control connection before answering'));
      });
    });
    req.on('error', reject);
    req.end();
  });
}
