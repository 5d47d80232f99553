import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { html } from './html.js';

describe('html templates', () => {
  it('when a value holds markup, then it is escaped in text and in quoted attributes', () => {
    const hostile = `"><script>alert('x')</script>&`;
    assert.equal(
      html`<a title="${hostile}">${hostile}</a>`.value,
      '<a title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</a>',
    );
  });

  it('when a template is nested or a list is given, then inner templates stay markup and list items are escaped', () => {
    const items = ['<b>', 'ok'].map((item) => html`<li>${item}</li>`);
    assert.equal(html`<ul>${items}${['<i>']}</ul>`.value, '<ul><li>&lt;b&gt;</li><li>ok</li>&lt;i&gt;</ul>');
    assert.equal(html`${undefined}${null}${false}${0}`.value, '0');
  });
});
