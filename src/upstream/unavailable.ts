import { RegistryError } from '../oci/errors.js';

/** The upstream did not answer usefully (timeout, connection error, 5xx, 429): a cache may hide it. */
export class UpstreamUnavailable extends RegistryError {
  constructor(message: string, readonly retryAfterMs?: number) {
    super('UNAVAILABLE', message);
    this.name = 'UpstreamUnavailable';
  }
}

