import { compileKey } from '../../src/http/keys';

describe('compileKey', () => {
  const user = () => 'unused: the pipeline passes what user() gave';

  it('prefixes a user id and joins parts with |', () => {
    expect(compileKey('user', user)({}, '192.0.2.1', undefined, 'alice')).toBe('u:alice');
    expect(compileKey(['user', 'route'], user)({}, '192.0.2.1', 'GET /a', 'alice')).toBe('u:alice|GET /a');
  });

  // Only a non-empty string is a user id: `u:null`, `u:42` or `u:[object Object]` would put unrelated clients in one bucket.
  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ["''", ''],
    ['a number', 42],
    ['an object', {}],
    ['an array', ['alice']],
    ['true', true],
  ])('falls back to the address when user() gives %s', (_label, id) => {
    expect(compileKey('user', user)({}, '192.0.2.1', undefined, id)).toBe('192.0.2.1');
    expect(compileKey(['user', 'route'], user)({}, '192.0.2.9', 'GET /a', id)).toBe('192.0.2.9|GET /a');
  });
});
