import escapeHtml from 'escape-html';

/**
 * Typed HTML templates with escaping by default: `html\`<p>${value}</p>\`` escapes every
 * interpolated value unless it is already `SafeHtml` (another template's output); arrays are
 * joined, `undefined`, `null` and `false` render nothing. Nothing else in the UI builds markup
 * from strings, so a value from the registry (a tag, a label, a description) cannot become markup.
 *
 * Escaping is `escape-html`'s (the five characters OWASP gives for HTML text and quoted
 * attribute values); every attribute in these templates is quoted.
 */
export class SafeHtml {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

export function escape(text: string): string {
  return escapeHtml(text);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escape(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, index) => {
    out += render(value) + strings[index + 1]!;
  });
  return new SafeHtml(out);
}
