import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWithClient, type TestRegistry } from '../support/in-process.js';
import { OciClient, errorCode } from '../support/oci-client.js';

describe('catalog and tag listing', () => {
  let registry: TestRegistry;
  let client: OciClient;
  const repositories = ['zeta', 'alpha/one', 'alpha', 'beta/two/three', 'Beta-not-valid'.toLowerCase(), 'mid'];
  const tags = ['v10', 'v2', 'latest', 'V1', '1.0', '_x'];

  before(async () => {
    ({ registry, client } = await startWithClient());
    for (const name of repositories) await client.pushImage(name, 'v1');
    for (const tag of tags) await client.pushImage('tagged', tag);
    await client.pushBlob('blobs-only', 'no manifest here');
  });
  after(() => registry.destroy());

  it('when the catalog is listed, then repositories with manifests come back in byte order', async () => {
    const response = await client.request('/v2/_catalog');
    assert.equal(response.status, 200);
    const body = (await response.json()) as { repositories: string[] };
    const expected = [...repositories, 'tagged'].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(body.repositories, expected);
    assert.equal(response.headers.get('link'), null);
  });

  it('when the catalog is paged with n and last, then Link leads to the next page until the end', async () => {
    const seen: string[] = [];
    let next: string | null = '/v2/_catalog?n=2';
    let pages = 0;
    while (next) {
      const response: Response = await client.request(next);
      const body = (await response.json()) as { repositories: string[] };
      assert.ok(body.repositories.length <= 2);
      seen.push(...body.repositories);
      const link = response.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
      pages += 1;
    }
    assert.equal(pages, Math.ceil(7 / 2));
    assert.deepEqual(seen, [...seen].sort());
    assert.equal(seen.length, 7);
  });

  it('when tags are listed, then they come back sorted and paged with Link', async () => {
    const all = (await (await client.request('/v2/tagged/tags/list')).json()) as { name: string; tags: string[] };
    assert.equal(all.name, 'tagged');
    assert.deepEqual(all.tags, [...tags].sort());
    const first = await client.request('/v2/tagged/tags/list?n=4');
    const firstBody = (await first.json()) as { tags: string[] };
    assert.deepEqual(firstBody.tags, [...tags].sort().slice(0, 4));
    assert.equal(first.headers.get('link'), `</v2/tagged/tags/list?last=${encodeURIComponent(firstBody.tags[3]!)}&n=4>; rel="next"`);
    const rest = (await (await client.request(`/v2/tagged/tags/list?n=4&last=${encodeURIComponent(firstBody.tags[3]!)}`)).json()) as { tags: string[] };
    assert.deepEqual(rest.tags, [...tags].sort().slice(4));
    const none = (await (await client.request('/v2/tagged/tags/list?n=0')).json()) as { tags: string[] };
    assert.deepEqual(none.tags, []);
  });

  it('when n is not a non-negative integer, then PAGINATION_NUMBER_INVALID', async () => {
    for (const n of ['-1', 'abc', '1.5', '']) {
      for (const path of [`/v2/_catalog?n=${n}`, `/v2/tagged/tags/list?n=${n}`]) {
        const response = await client.request(path);
        assert.equal(response.status, 400, path);
        assert.equal(await errorCode(response), 'PAGINATION_NUMBER_INVALID');
      }
    }
  });

  it('when tags of an unknown repository are asked for, then NAME_UNKNOWN', async () => {
    const response = await client.request('/v2/never/pushed/tags/list');
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'NAME_UNKNOWN');
  });
});
