import { describe, expect, it } from 'vitest';
import { loadTemplate, renderTemplate, type TemplateName } from '../../../src/ssh/template.js';

describe('renderTemplate', () => {
  it.each<[string, string, Record<string, string>, string]>([
    ['one field', 'Port {{PORT}}', { PORT: '22' }, 'Port 22'],
    ['a field used twice', '{{A}}-{{A}}', { A: 'x' }, 'x-x'],
    ['several fields', '{{A}} {{B_C}}', { A: '1', B_C: '2' }, '1 2'],
    ['an empty value', 'x{{E}}y', { E: '' }, 'xy'],
    ['no fields', 'plain', {}, 'plain'],
    ['lower-case braces are not fields', '{{lower}} {{A}}', { A: '1' }, '{{lower}} 1'],
    ['values are not re-expanded', '{{A}}', { A: '{{B}}' }, '{{B}}'],
  ])('%s', (_name, template, values, out) => {
    expect(renderTemplate(template, values)).toBe(out);
  });

  it.each<[string, string, Record<string, string>, RegExp]>([
    ['a field without a value', 'Port {{PORT}} {{USER}}', { PORT: '1' }, /\{\{USER\}\} has no value/],
    ['a value without a field', 'Port {{PORT}}', { PORT: '1', EXTRA: 'x', MORE: 'y' }, /no field for EXTRA, MORE/],
  ])('throws on %s', (_name, template, values, message) => {
    expect(() => renderTemplate(template, values)).toThrow(message);
  });
});

describe('shipped templates', () => {
  it.each<[TemplateName, string[]]>([
    ['sshd_config', ['PORT', 'HOST_KEY', 'AUTHORIZED_KEYS', 'USER', 'PERMIT_ROOT_LOGIN', 'SET_ENV']],
    ['ssh_config', ['NODE_BLOCKS', 'HOSTS', 'USER', 'IDENTITY', 'KNOWN_HOSTS']],
    ['ssh_config_block', ['HOSTS', 'PORT', 'USER', 'SSHCONFIGDIR']],
    ['ssh_wrapper', ['SSH_CONFIG']],
  ])('%s has exactly the fields its callers fill', async (name, fields) => {
    const template = await loadTemplate(name);
    const values = Object.fromEntries(fields.map((f) => [f, `<${f}>`]));
    const out = renderTemplate(template, values);
    expect(out).not.toMatch(/\{\{[A-Z_]+\}\}/);
  });
});
