/**
 * Transfer-Encoding (RFC 9112 §6.1, §6.3, §7): only `chunked`, any case,
 * as the single coding of a single field; chunked missing / not last /
 * repeated / malformed → 400, other codings before chunked → 501; never in
 * HTTP/1.0.
 */
import { describe, expect, it } from 'vitest';
import { expectRequestError, expectRequestOk, rawReq, req } from './helpers.js';

const post = (fields: string[], body = '0\r\n\r\n') => req(fields, 'POST / HTTP/1.1', body);

describe('Transfer-Encoding: valid', () => {
  const values = ['chunked', 'Chunked', 'CHUNKED', ' chunked ', '\tchunked\t'];
  it.each(values)('Transfer-Encoding: %j', (value) => {
    const log = expectRequestOk(post([`Transfer-Encoding: ${value}`], '3\r\nabc\r\n0\r\n\r\n'));
    expect(log).toEqual([
      expect.objectContaining({ type: 'request', contentLength: -1, chunked: true }),
      { type: 'data', text: 'abc' },
      { type: 'end', trailers: null },
    ]);
  });
});

describe('Transfer-Encoding: invalid', () => {
  const cases: [string, string[], string, number][] = [
    ['llhttp: pigeons (unknown, not chunked)', ['Transfer-Encoding: pigeons'], 'TE_INVALID', 400],
    ['gzip alone', ['Transfer-Encoding: gzip'], 'TE_INVALID', 400],
    ['identity (removed in RFC 9112)', ['Transfer-Encoding: identity'], 'TE_INVALID', 400],
    ['garden #44: blegh', ['Transfer-Encoding: blegh'], 'TE_INVALID', 400],
    ['empty', ['Transfer-Encoding:'], 'TE_INVALID', 400],
    ['llhttp: chunked, deflate (not last)', ['Transfer-Encoding: chunked, deflate'], 'TE_INVALID', 400],
    ['SMUG-TE-DOUBLE-CHUNKED: chunked, chunked', ['Transfer-Encoding: chunked, chunked'], 'TE_INVALID', 400],
    ['garden #21: ,chunked', ['Transfer-Encoding: ,chunked'], 'TE_INVALID', 400],
    ['chunked,', ['Transfer-Encoding: chunked,'], 'TE_INVALID', 400],
    ['llhttp: chunkedchunked', ['Transfer-Encoding: chunkedchunked'], 'TE_INVALID', 400],
    ['SMUG-TE-XCHUNKED: xchunked', ['Transfer-Encoding: xchunked'], 'TE_INVALID', 400],
    ['chunked with a parameter', ['Transfer-Encoding: chunked;q=1'], 'TE_INVALID', 400],
    ['quoted chunked', ['Transfer-Encoding: "chunked"'], 'TE_INVALID', 400],
    ['space-separated list', ['Transfer-Encoding: gzip chunked'], 'TE_INVALID', 400],
    ['garden #12: \\xa0chunked\\xa0', ['Transfer-Encoding: \xa0chunked\xa0'], 'TE_INVALID', 400],
    ['smuggler: \\x0bchunked', ['Transfer-Encoding: \x0bchunked'], 'INVALID_HEADER_VALUE', 400],
    ['smuggler: chunked\\x0c', ['Transfer-Encoding: chunked\x0c'], 'INVALID_HEADER_VALUE', 400],
    ['smuggler: \\x00 before chunked', ['Transfer-Encoding: \x00chunked'], 'INVALID_HEADER_VALUE', 400],
    ['smuggler: \\xffchunked', ['Transfer-Encoding: \xffchunked'], 'TE_INVALID', 400],
    ['smuggler: chunked-false', ['Transfer-Encoding: chunked-false'], 'TE_INVALID', 400],
    ['gzip, chunked (unsupported coding → 501)', ['Transfer-Encoding: gzip, chunked'], 'TE_UNSUPPORTED', 501],
    ['deflate,chunked', ['Transfer-Encoding: deflate,chunked'], 'TE_UNSUPPORTED', 501],
    ['CVE-2020-8287 / garden #11: two fields, chunked twice', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], 'TE_REPEATED', 400],
    ['llhttp: chunked then a second field deflate', ['Transfer-Encoding: chunked', 'Transfer-Encoding: deflate'], 'TE_REPEATED', 400],
    ['llhttp: deflate then a second field chunked', ['Transfer-Encoding: deflate', 'Transfer-Encoding: chunked'], 'TE_REPEATED', 400],
    ['garden #37: Transfer-\\r\\nEncoding', ['Transfer-', 'Encoding: chunked'], 'INVALID_HEADER_TOKEN', 400],
    ['smuggler: space-prefixed name', [' Transfer-Encoding: chunked'], 'OBS_FOLD', 400],
    ['smuggler: X: X\\nTransfer-Encoding', ['X: X\nTransfer-Encoding: chunked'], 'BARE_LF', 400],
  ];
  it.each(cases)('%s', (_name, fields, code, status) => {
    expectRequestError(post(fields), code, status);
  });

  it('Transfer-Encoding in an HTTP/1.0 request → 400', () => {
    expectRequestError(rawReq('POST / HTTP/1.0', ['Transfer-Encoding: chunked'], '0\r\n\r\n'), 'TE_HTTP10', 400);
  });
});
