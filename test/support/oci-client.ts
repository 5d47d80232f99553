import assert from 'node:assert/strict';
import { sha256 } from './images.js';

export { sha256 };

/**
 * An OCI artifact manifest (empty config and layer, `emptyDigest` being the pushed `{}` blob)
 * that refers to `subject`, as signatures and SBOMs do.
 */
export function artifactManifest(subject: { digest: string; body: Buffer }, artifactType: string, emptyDigest: string, annotations?: Record<string, string>): string {
  const empty = { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 };
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType,
    config: empty,
    layers: [empty],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject.digest, size: subject.body.length },
    ...(annotations ? { annotations } : {}),
  });
}

export interface ErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

export async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as ErrorBody;
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, 'error envelope has errors[]');
  assert.equal(typeof body.errors[0]!.message, 'string');
  return body.errors[0]!.code;
}

/** A thin spec-following client for integration tests (fetch over loopback). */
export class OciClient {
  constructor(readonly base: string) {}

  request(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(new URL(path, this.base), { redirect: 'manual', ...init });
  }

  /** Monolithic push (POST ?digest=); returns the digest. */
  async pushBlob(name: string, content: Buffer | string): Promise<string> {
    const bytes = Buffer.from(content);
    const digest = sha256(bytes);
    const response = await this.request(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
    assert.equal(response.status, 201, `blob push to ${name}: ${await response.text()}`);
    return digest;
  }

  async startUpload(name: string): Promise<string> {
    const response = await this.request(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(response.status, 202);
    const location = response.headers.get('location');
    assert.ok(location);
    return location;
  }

  /** Pushes config + layers and an OCI image manifest; returns the manifest digest and bytes. */
  async pushImage(name: string, tag: string, layers: string[] = ['layer-a', 'layer-b'], extra: Record<string, unknown> = {}): Promise<{ digest: string; body: Buffer; manifest: Record<string, unknown> }> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const configDigest = await this.pushBlob(name, config);
    const layerDescriptors = [];
    for (const layer of layers) {
      layerDescriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await this.pushBlob(name, layer), size: Buffer.byteLength(layer) });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layerDescriptors,
      ...extra,
    };
    const body = Buffer.from(JSON.stringify(manifest, null, 2));
    const response = await this.putManifest(name, tag, body, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(response.status, 201, `manifest push: ${await response.text()}`);
    return { digest: sha256(body), body, manifest };
  }

  putManifest(name: string, reference: string, body: Buffer | string, contentType: string): Promise<Response> {
    return this.request(`/v2/${name}/manifests/${reference}`, { method: 'PUT', body: Buffer.from(body), headers: { 'Content-Type': contentType } });
  }
}

/** Sends a path exactly as written (fetch would normalise `..` away before it left). */
export async function rawRequest(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const { request } = await import('node:http');
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}
