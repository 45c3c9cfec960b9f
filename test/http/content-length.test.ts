/**
 * Content-Length (RFC 9110 §8.6, RFC 9112 §6.3): `1*DIGIT`, checked before
 * conversion, at most 15 digits, exactly one field, no lists; never with
 * Transfer-Encoding.
 */
import { describe, expect, it } from 'vitest';
import { expectRequestError, expectRequestOk, req } from './helpers.js';

const post = (fields: string[], body = '') => req(fields, 'POST / HTTP/1.1', body);

describe('Content-Length: valid', () => {
  const cases: [string, string, number, string][] = [
    ['simple', 'Content-Length: 5', 5, 'hello'],
    ['zero', 'Content-Length: 0', 0, ''],
    ['llhttp: leading zeros (003)', 'Content-Length: 003', 3, 'abc'],
    ['garden #32: 010 is ten, not octal', 'Content-Length: 010', 10, '0123456789'],
    ['OWS around the value', 'Content-Length:  3 ', 3, 'abc'],
    ['tabs around the value', 'Content-Length:\t3\t ', 3, 'abc'],
    ['lower-case name', 'content-length: 2', 2, 'hi'],
    ['15 digits (the maximum)', 'Content-Length: 000000000000004', 4, 'abcd'],
  ];
  it.each(cases)('%s', (_name, field, length, body) => {
    const log = expectRequestOk(post([field], body));
    expect(log[0]).toMatchObject({ type: 'request', contentLength: length, chunked: false });
    const events = log.slice(1);
    expect(events).toEqual(body === '' ? [{ type: 'end', trailers: null }] : [{ type: 'data', text: body }, { type: 'end', trailers: null }]);
  });

  it('a body is a view of the input, not a copy', async () => {
    const { RequestParser } = await import('../../src/http/index.js');
    const input = new Uint8Array(Buffer.from(post(['Content-Length: 5'], 'hello'), 'latin1'));
    const p = new RequestParser();
    p.receiveData(input);
    p.nextEvent();
    const ev = p.nextEvent() as { type: 'data'; data: Uint8Array };
    expect(ev.data.buffer).toBe(input.buffer);
    expect(ev.data.byteOffset).toBe(input.length - 5);
  });

  it('no Content-Length and no Transfer-Encoding: no body', () => {
    const log = expectRequestOk(req([], 'POST / HTTP/1.1'));
    expect(log[0]).toMatchObject({ contentLength: 0, chunked: false });
    expect(log[1]).toEqual({ type: 'end', trailers: null });
  });
});

describe('Content-Length: invalid', () => {
  const cases: [string, string[], string][] = [
    ['llhttp: empty', ['Content-Length:'], 'CL_INVALID'],
    ['garden #16/#38/#42: whitespace only', ['Content-Length:  '], 'CL_INVALID'],
    ['garden #26: negative (-48)', ['Content-Length: -48'], 'CL_INVALID'],
    ['plus sign', ['Content-Length: +5'], 'CL_INVALID'],
    ['garden #10: +1_0', ['Content-Length: +1_0'], 'CL_INVALID'],
    ['underscore', ['Content-Length: 1_0'], 'CL_INVALID'],
    ['hex prefix', ['Content-Length: 0x5'], 'CL_INVALID'],
    ['exponent', ['Content-Length: 1e3'], 'CL_INVALID'],
    ['decimal point', ['Content-Length: 5.0'], 'CL_INVALID'],
    ['garden #29: 1Z', ['Content-Length: 1Z'], 'CL_INVALID'],
    ['llhttp: inner space (4 2)', ['Content-Length: 4 2'], 'CL_INVALID'],
    ['llhttp: 13 37', ['Content-Length: 13 37'], 'CL_INVALID'],
    ['list of equal values (5, 5)', ['Content-Length: 5, 5'], 'CL_INVALID'],
    ['list of different values', ['Content-Length: 5, 6'], 'CL_INVALID'],
    ['quoted', ['Content-Length: "5"'], 'CL_INVALID'],
    ['unicode digit (latin1 \\xb2)', ['Content-Length: \xb2'], 'CL_INVALID'],
    ['llhttp: overflow (1000000000000000000000)', ['Content-Length: 1000000000000000000000'], 'CL_OVERFLOW'],
    ['16 digits', ['Content-Length: 1000000000000000'], 'CL_OVERFLOW'],
    ['16 digits with leading zeros', ['Content-Length: 0000000000000005'], 'CL_OVERFLOW'],
    ['CVE-2020-10108 / llhttp: two fields, different values', ['Content-Length: 1', 'Content-Length: 2'], 'CL_REPEATED'],
    ['two fields, same value', ['Content-Length: 5', 'Content-Length: 5'], 'CL_REPEATED'],
    ['garden #23/#33: conflicting values, different case', ['Content-Length: 5', 'content-length: 0'], 'CL_REPEATED'],
    ['CVE-2020-10109: CL then TE', ['Content-Length: 5', 'Transfer-Encoding: chunked'], 'CL_TE_CONFLICT'],
    ['TE then CL', ['Transfer-Encoding: chunked', 'Content-Length: 5'], 'CL_TE_CONFLICT'],
    ['llhttp: CL then TE: identity', ['Content-Length: 5', 'Transfer-Encoding: identity'], 'CL_TE_CONFLICT'],
    ['llhttp: empty TE ×3 with CL', ['Transfer-Encoding:', 'Transfer-Encoding:', 'Transfer-Encoding:', 'Content-Length: 10'], 'CL_TE_CONFLICT'],
  ];
  it.each(cases)('%s', (_name, fields, code) => {
    expectRequestError(post(fields, 'hello'), code, 400);
  });
});
