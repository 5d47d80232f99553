import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciLayout, sampleImage } from '../support/images.js';
import { startServer, type RunningServer } from '../support/server.js';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy.js';
import { Podman } from './registry-clients.js';

/**
 * `http.tls.auto` with the real clients, each following the steps Berth serves at `/berth/tls`
 * for the host:port it uses: the CA goes where the steps say, and the client verifies TLS (no
 * `--tls-verify=false`, no insecure-registries). Without the CA the same command must fail on
 * the certificate, so the success is the CA's doing.
 *
 * The Docker engine treats 127.0.0.0/8 as an insecure registry whatever its configuration
 * (moby's `loadInsecureRegistries` appends it; `newTLSConfig` then skips verification and reads
 * no certs.d), so on 127.0.0.1 it would accept any certificate. It reaches Berth here by a name,
 * as a client on another machine does: `berth.invalid` (in the certificate through `http.host`),
 * which resolves nowhere, so dockerd counts it secure and goes through a CONNECT proxy on loopback.
 */
const REGISTRY_NAME = 'berth.invalid';
const CERTIFICATE_ERROR = /x509: certificate signed by unknown authority/;

/** A GET to Berth on loopback as `host` (Host header and TLS server name), trusting only `ca`. */
function getAs(port: number, host: string, path: string, ca: Buffer, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const name = host.replace(/:\d+$/, '');
    // No keep-alive: a pooled socket would hold Berth's graceful stop. An IP is no TLS server name (RFC 6066).
    const req = request({ host: '127.0.0.1', port, path, method, ca, agent: false, ...(isIP(name) ? {} : { servername: name }), headers: { Host: host, Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Where the served steps tell `client` ("Docker:" or "Podman, …") to put the CA. */
function caDestination(steps: string, client: RegExp): string {
  const lines = steps.split('\n');
  const heading = lines.findIndex((line) => client.test(line));
  const copy = lines.slice(heading + 1).find((line) => line.includes('cp ca.crt'));
  const destination = copy && /cp ca\.crt (\S+)/.exec(copy)?.[1];
  if (heading < 0 || !destination) throw new Error(`the served steps have no CA destination for ${client}:\n${steps}`);
  return destination;
}

describe('http.tls.auto: podman and the Docker engine trust the CA by the served steps', () => {
  let work: string;
  let berth: RunningServer;
  let ca: Buffer;
  /** Directories this suite created for the CA, each below its parent. */
  const installed: string[] = [];

  /** Follows a served step: the CA file where the steps say (removed after the suite). */
  const installCa = async (destination: string) => {
    const firstCreated = await mkdir(dirname(destination), { recursive: true });
    for (let directory = dirname(destination); firstCreated && directory.startsWith(firstCreated); directory = dirname(directory)) installed.push(directory);
    await writeFile(destination, ca);
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-t-'));
    berth = await startServer({ config: { http: { host: `https://${REGISTRY_NAME}`, tls: { auto: true } } } });
    ca = await readFile(join(berth.dataDir, 'storage', 'tls', 'ca.crt'));
  });

  after(async () => {
    // Only what this suite created, and a parent only once empty (another client's CA may sit beside ours).
    for (const directory of installed) {
      if (directory.endsWith(`:${berth.port}`)) await rm(directory, { recursive: true, force: true });
      else await rmdir(directory).catch(() => undefined);
    }
    await berth?.stop();
    await berth?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('when podman has the CA where the steps say, then it pushes and pulls with TLS verified; without it, it fails on the certificate', async () => {
    const hostPort = `127.0.0.1:${berth.port}`;
    const steps = await getAs(berth.port, hostPort, '/berth/tls', ca);
    assert.equal(steps.status, 200);
    const destination = caDestination(steps.body, /^\s*Podman/);
    assert.equal(destination, `/etc/containers/certs.d/${hostPort}/ca.crt`);

    const layout = await OciLayout.create(join(work, 'layout'));
    const image = await layout.addImage('app', sampleImage({ os: 'linux', architecture: 'amd64' }, 'tls'));
    const podman = new Podman(join(work, 'p'), { verifyTls: true });
    await assert.rejects(podman.push(layout, 'app', `${hostPort}/tls/podman:v1`, { format: 'oci' }), CERTIFICATE_ERROR);

    await installCa(destination);
    const pushed = await podman.push(layout, 'app', `${hostPort}/tls/podman:v1`, { format: 'oci' });
    const served = await getAs(berth.port, hostPort, '/v2/tls/podman/manifests/v1', ca, 'HEAD');
    assert.equal(served.headers['docker-content-digest'], pushed);
    const pulled = await podman.pull(`${hostPort}/tls/podman:v1`);
    assert.equal(pulled.manifestDigest, pushed);
    assert.equal(pulled.configDigest, image.config.digest);
  });

  describe('the Docker engine, reaching Berth by name', () => {
    let proxy: ConnectProxy;
    let dockerd: Dockerd;
    let hostPort: string;

    before(async () => {
      proxy = await startConnectProxy(berth.port);
      dockerd = await startDockerd({ httpsProxy: proxy.url });
      hostPort = `${REGISTRY_NAME}:${berth.port}`;
      const context = join(work, 'context');
      await mkdir(context, { recursive: true });
      await writeFile(join(context, 'hello.txt'), 'served over verified TLS\n');
      await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
      await dockerd.docker(['build', '--quiet', '-t', `${hostPort}/tls/docker:v1`, context]);
    });

    after(async () => {
      await dockerd?.stop();
      await proxy?.close();
    });

    it('when dockerd is left at its defaults, then it counts 127.0.0.0/8 insecure (why this test uses a name)', async () => {
      const registryConfig = JSON.parse(await dockerd.docker(['info', '--format', '{{json .RegistryConfig}}'])) as { InsecureRegistryCIDRs: string[] };
      assert.ok(registryConfig.InsecureRegistryCIDRs.includes('127.0.0.0/8'));
    });

    it('when dockerd has the CA where the steps say, then it pushes and pulls with TLS verified; without it, it fails on the certificate', async () => {
      const steps = await getAs(berth.port, hostPort, '/berth/tls', ca);
      const destination = caDestination(steps.body, /^\s*Docker:/);
      assert.equal(destination, `/etc/docker/certs.d/${hostPort}/ca.crt`);

      await assert.rejects(dockerd.docker(['push', `${hostPort}/tls/docker:v1`]), CERTIFICATE_ERROR);
      // The daemon reads certs.d on each connection: no restart between the steps and the push.
      await installCa(destination);
      const pushOutput = await dockerd.docker(['push', `${hostPort}/tls/docker:v1`]);
      const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(pushOutput)?.[1];
      assert.ok(pushed, pushOutput);
      const served = await getAs(berth.port, hostPort, '/v2/tls/docker/manifests/v1', ca, 'HEAD');
      assert.equal(served.headers['docker-content-digest'], pushed);

      await dockerd.docker(['rmi', `${hostPort}/tls/docker:v1`]);
      await dockerd.docker(['pull', `${hostPort}/tls/docker:v1`]);
      const repoDigests = JSON.parse(await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', `${hostPort}/tls/docker:v1`])) as string[];
      assert.deepEqual(repoDigests, [`${hostPort}/tls/docker@${pushed}`]);
      // Every connection went through the proxy by name: nothing reached Berth as 127.0.0.1.
      assert.ok(proxy.tunnels.length > 0 && proxy.tunnels.every((tunnel) => tunnel === hostPort), proxy.tunnels.join(', '));
    });
  });
});
