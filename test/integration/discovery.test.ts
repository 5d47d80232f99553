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

  it('when the catalog is listed, then repositories holding a manifest or a blob come back in byte order', async () => {
    const response = await client.request('/v2/_catalog');
    assert.equal(response.status, 200);
    const body = (await response.json()) as { repositories: string[] };
    const expected = [...repositories, 'tagged', 'blobs-only'].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
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
    assert.equal(pages, Math.ceil(8 / 2));
    assert.deepEqual(seen, [...seen].sort());
    assert.equal(seen.length, 8);
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
  });

  it('when n=0, then both lists answer empty with no Link to follow', async () => {
    const catalog = await client.request('/v2/_catalog?n=0');
    assert.equal(catalog.status, 200);
    assert.equal(catalog.headers.get('link'), null);
    assert.deepEqual(await catalog.json(), { repositories: [] });
    const tagList = await client.request('/v2/tagged/tags/list?n=0');
    assert.equal(tagList.status, 200);
    assert.equal(tagList.headers.get('link'), null);
    assert.deepEqual(await tagList.json(), { name: 'tagged', tags: [] });
  });

  it('when n is more than one page may hold, then 400 PAGINATION_NUMBER_INVALID with n in the detail, as registry:2 answers', async () => {
    for (const n of ['10001', '99999999999999999999']) {
      for (const path of [`/v2/_catalog?n=${n}`, `/v2/tagged/tags/list?n=${n}`]) {
        const response = await client.request(path);
        assert.equal(response.status, 400, path);
        const body = (await response.json()) as { errors: { code: string; message: string; detail: { n: number } }[] };
        assert.equal(body.errors[0]!.code, 'PAGINATION_NUMBER_INVALID');
        assert.match(body.errors[0]!.message, /^invalid number of results requested/);
        assert.equal(body.errors[0]!.detail.n, Number(n));
      }
    }
    assert.equal((await client.request('/v2/_catalog?n=10000')).status, 200);
  });

  it('when n is not a whole number, then it is ignored and the default page served, as registry:2 does', async () => {
    for (const n of ['-1', 'abc', '1.5', '']) {
      const tagList = await client.request(`/v2/tagged/tags/list?n=${n}`);
      assert.equal(tagList.status, 200, n);
      assert.deepEqual(((await tagList.json()) as { tags: string[] }).tags, [...tags].sort(), n);
      const catalog = await client.request(`/v2/_catalog?n=${n}`);
      assert.equal(catalog.status, 200, n);
      assert.ok(((await catalog.json()) as { repositories: string[] }).repositories.includes('tagged'), n);
    }
  });

  it('when tags of an unknown repository are asked for, then NAME_UNKNOWN', async () => {
    const response = await client.request('/v2/never/pushed/tags/list');
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'NAME_UNKNOWN');
  });
});
