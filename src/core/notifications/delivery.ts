import { createHmac } from 'node:crypto';
import type { NotificationEndpoint } from '../../config/config.js';
import type { StoredOutboxEvent } from '../../metadata/store.js';
import { EVENTS_MEDIA_TYPE, type RegistryEvent } from './events.js';

/** The header carrying `sha256=<hex HMAC-SHA256 of the raw body, keyed by the endpoint's secret>`. */
export const SIGNATURE_HEADER = 'X-Berth-Signature';

export interface WebhookRequest {
  body: string;
  headers: Record<string, string | string[]>;
}

/** Sends one request; resolves when the receiver acknowledged it (2xx or 3xx, as registry:2 counts success). */
export type WebhookSender = (endpoint: NotificationEndpoint, request: WebhookRequest) => Promise<void>;

const CLOUDEVENT_TYPES: Record<string, string> = {
  push: 'dev.berth.image.pushed',
  pull: 'dev.berth.image.pulled',
  mount: 'dev.berth.blob.mounted',
  delete: 'dev.berth.image.deleted',
};

/**
 * One delivery of consecutive events: registry:2's envelope `{"events": [...]}`, or a
 * CloudEvents 1.0 JSON batch. The stored payloads are spliced in as they were written.
 */
export function webhookRequest(endpoint: NotificationEndpoint, events: StoredOutboxEvent[]): WebhookRequest {
  let body: string;
  let contentType: string;
  if (endpoint.format === 'cloudevents') {
    contentType = 'application/cloudevents-batch+json';
    body = JSON.stringify(events.map((stored) => {
      const event = JSON.parse(stored.payload) as RegistryEvent;
      return {
        specversion: '1.0',
        id: event.id,
        source: `berth://${event.source.instanceID}`,
        type: CLOUDEVENT_TYPES[event.action] ?? `dev.berth.${event.action}`,
        subject: event.target.repository,
        time: event.timestamp,
        datacontenttype: 'application/json',
        data: event,
      };
    }));
  } else {
    contentType = EVENTS_MEDIA_TYPE;
    body = `{"events":[${events.map((event) => event.payload).join(',')}]}`;
  }
  const headers: Record<string, string | string[]> = { ...endpoint.headers, 'content-type': contentType };
  if (endpoint.secret) headers[SIGNATURE_HEADER.toLowerCase()] = `sha256=${createHmac('sha256', endpoint.secret).update(body).digest('hex')}`;
  return { body, headers };
}

/** The real sender: `fetch` with the endpoint's timeout; redirects are not followed (a 3xx is an acknowledgement). */
export const fetchSender: WebhookSender = async (endpoint, request) => {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  const response = await fetch(endpoint.url, { method: 'POST', body: request.body, headers, redirect: 'manual', signal: AbortSignal.timeout(endpoint.timeoutMs) });
  await response.body?.cancel();
  if (response.status < 200 || response.status >= 400) throw new Error(`the receiver answered ${response.status}`);
};
