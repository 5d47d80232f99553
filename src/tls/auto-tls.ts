import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { issueCertificate } from './x509.js';

/**
 * `http.tls.auto`: a private CA and a server certificate for the names and addresses Berth
 * serves, kept in the data directory (`tls/`, key files 0600), renewed 30 days before expiry or
 * when the names change, so clients trust one CA file instead of marking the registry insecure.
 */
export interface AutoTlsConfig {
  directory: string;
  names: string[];
}

export const AUTO_TLS_FILES = { ca: 'ca.crt', caKey: 'ca.key', certificate: 'server.crt', key: 'server.key' } as const;

const DAY_MS = 86_400_000;
const CA_LIFETIME_MS = 3650 * DAY_MS;
/** Below the 398 days browsers and Apple clients accept for a server certificate. */
const SERVER_LIFETIME_MS = 397 * DAY_MS;
const RENEW_BEFORE_MS = 30 * DAY_MS;

export function autoTlsPaths(directory: string): { ca: string; caKey: string; certificate: string; key: string } {
  return {
    ca: join(directory, AUTO_TLS_FILES.ca),
    caKey: join(directory, AUTO_TLS_FILES.caKey),
    certificate: join(directory, AUTO_TLS_FILES.certificate),
    key: join(directory, AUTO_TLS_FILES.key),
  };
}

/** The names a server listening on `host` is reached by: localhost, this machine's name and addresses. */
export function defaultNames(host: string, publicHost?: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname()]);
  if (host !== '0.0.0.0' && host !== '::' && host !== '') names.add(host);
  else {
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) if (!address.internal && !address.address.startsWith('fe80:')) names.add(address.address);
    }
  }
  if (publicHost) names.add(publicHost);
  return [...names];
}

export interface EnsuredTls {
  caCreated: boolean;
  serverIssued: boolean;
  caFingerprint: string;
}

/** Creates or renews what is missing or due; idempotent. */
export function ensureAutoTls(config: AutoTlsConfig, now = new Date()): EnsuredTls {
  const paths = autoTlsPaths(config.directory);
  mkdirSync(config.directory, { recursive: true, mode: 0o700 });
  let caCreated = false;
  let ca = readCertificate(paths.ca);
  if (!ca || !existsSync(paths.caKey) || Date.parse(ca.validTo) - now.getTime() < RENEW_BEFORE_MS) {
    const issued = issueCertificate({ commonName: `Berth CA ${hostname()}`, notBefore: backdated(now), notAfter: new Date(now.getTime() + CA_LIFETIME_MS) });
    writePrivately(paths.caKey, issued.keyPem);
    writeAtomically(paths.ca, issued.certificatePem, 0o644);
    ca = new X509Certificate(issued.certificatePem);
    caCreated = true;
  }
  const server = readCertificate(paths.certificate);
  const due = !server
    || !existsSync(paths.key)
    || caCreated
    || !server.checkIssued(ca)
    || Date.parse(server.validTo) - now.getTime() < RENEW_BEFORE_MS
    || !sameNames(server, config.names);
  if (due) {
    const issued = issueCertificate({
      commonName: config.names.find((entry) => entry !== 'localhost' && !/^[\d.:]+$/.test(entry)) ?? 'localhost',
      names: config.names,
      notBefore: backdated(now),
      notAfter: new Date(now.getTime() + SERVER_LIFETIME_MS),
      issuer: { certificateCommonName: ca.subject.match(/CN=(.*)/)?.[1] ?? '', key: createPrivateKey(readFileSync(paths.caKey)) },
    });
    writePrivately(paths.key, issued.keyPem);
    writeAtomically(paths.certificate, issued.certificatePem, 0o644);
  }
  return { caCreated, serverIssued: due, caFingerprint: fingerprint(ca) };
}

/** What each client needs to trust this registry, for `host:port`. */
export function clientSteps(hostPort: string, caPath: string): string {
  return [
    `Berth serves HTTPS with its own CA (${caPath}). On each client, trust that CA for ${hostPort}:`,
    '',
    `  Get the CA:  curl -fsSk https://${hostPort}/berth/ca.crt -o ca.crt   (then compare its SHA-256 fingerprint with the one Berth printed)`,
    '',
    '  Docker:',
    `    sudo mkdir -p /etc/docker/certs.d/${hostPort} && sudo cp ca.crt /etc/docker/certs.d/${hostPort}/ca.crt`,
    '  Podman, Buildah, Skopeo, CRI-O:',
    `    sudo mkdir -p /etc/containers/certs.d/${hostPort} && sudo cp ca.crt /etc/containers/certs.d/${hostPort}/ca.crt`,
    '  containerd (config_path = "/etc/containerd/certs.d" in its CRI registry config):',
    `    sudo mkdir -p /etc/containerd/certs.d/${hostPort} && sudo cp ca.crt /etc/containerd/certs.d/${hostPort}/ca.crt`,
    `    and /etc/containerd/certs.d/${hostPort}/hosts.toml:`,
    `      server = "https://${hostPort}"`,
    `      [host."https://${hostPort}"]`,
    `        ca = "/etc/containerd/certs.d/${hostPort}/ca.crt"`,
    '',
    'No insecure-registries entry and no --tls-verify=false is needed.',
    '',
  ].join('\n');
}

export function fingerprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('hex').toUpperCase().match(/../g)!.join(':');
}

function readCertificate(path: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(path));
  } catch {
    return undefined;
  }
}

function sameNames(certificate: X509Certificate, names: string[]): boolean {
  const present = (certificate.subjectAltName ?? '').split(', ').map((entry) => entry.replace(/^(DNS|IP Address):/, ''));
  return names.every((entry) => (/^[\d.]+$|:/.test(entry) ? certificate.checkIP(entry) !== undefined : present.includes(entry))) && present.length === names.length;
}

/** Clients whose clock is a little behind still accept a fresh certificate. */
function backdated(now: Date): Date {
  return new Date(now.getTime() - 3_600_000);
}

function writePrivately(path: string, content: string): void {
  writeAtomically(path, content, 0o600);
}

function writeAtomically(path: string, content: string, mode: number): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, content, { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
}
