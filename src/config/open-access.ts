import { isIP } from 'node:net';

/**
 * Whether a listen address is reachable only from this machine: `localhost`, 127.0.0.0/8, `::1`
 * (and 127.x written as an IPv4-mapped IPv6 address). Every other address, the wildcards
 * (0.0.0.0, ::) and any other host name included, may be reachable from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const address = host.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
  if (address === 'localhost' || address === '::1' || address === '0:0:0:0:0:0:0:1') return true;
  return isIP(address) === 4 && address.startsWith('127.');
}

/**
 * The one-line startup warning for a registry without authentication that listens beyond
 * loopback (undefined when there is nothing to warn about).
 */
export function openAccessWarning(listen: { host: string; port: number; authenticated: boolean; readOnly: boolean; deleteEnabled: boolean }): string | undefined {
  if (listen.authenticated || isLoopbackHost(listen.host)) return undefined;
  const address = listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
  const can = listen.readOnly ? 'pull every repository' : listen.deleteEnabled ? 'push and delete' : 'push';
  return `no authentication configured and listening on ${address}: anyone who can reach this address can ${can}`;
}
