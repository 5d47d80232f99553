import type { Outbox } from '../core/notifications/outbox.js';
import type { OperationsRoute } from './operations-api.js';
import { sendJson } from './respond.js';

/** `GET /api/v1/webhooks`: each endpoint's delivery state (pending events, last error, last success). */
export function webhooksRoute(outbox: Outbox | undefined): OperationsRoute {
  return {
    path: '/api/v1/webhooks',
    method: 'GET',
    async answer(req, res) {
      const states = outbox ? await outbox.states() : [];
      sendJson(req, res, 200, {
        endpoints: states.map((state) => ({
          name: state.name,
          pending: state.pending,
          deliveredSeq: state.deliveredSeq,
          failures: state.failures,
          ...(state.failures > 0 ? { nextAttemptAt: new Date(state.nextAttemptAt).toISOString() } : {}),
          ...(state.lastError !== undefined ? { lastError: state.lastError, lastErrorAt: new Date(state.lastErrorAt!).toISOString() } : {}),
          ...(state.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(state.lastSuccessAt).toISOString() } : {}),
        })),
      });
    },
  };
}
