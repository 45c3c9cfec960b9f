/**
 * Request-smuggling corpus, each case named for the rule it pins and the
 * public report it comes from (Node/Twisted CVEs, http-garden TROPHIES,
 * Http11Probe SmugglingSuite ids, defparam/smuggler gadgets). Every case is
 * parsed whole, byte by byte and in every 2-way split: the parser must
 * reject it the same way each time, and must never emit a second request.
 */
import { describe, expect, it } from 'vitest';
import { runAllSplits } from './helpers.js';

const H = 'Host: example.com\r\n';

const cases: [string, string, string, number][] = [
  // rule: reject CL + TE (RFC 9112 §6.1)
  ['SMUG-CL-TE-BOTH / CVE-2020-10109', `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, 'CL_TE_CONFLICT', 400],
  ['SMUG-CLTE-PIPELINE', `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n${H}\r\n`, 'CL_TE_CONFLICT', 400],
  ['SMUG-TECL-PIPELINE', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n${H}\r\n`, 'CL_TE_CONFLICT', 400],
  // rule: exactly one Content-Length (RFC 9110 §8.6; CVE-2020-10108)
  ['SMUG-DUPLICATE-CL / CVE-2020-10108', `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 44\r\n\r\nGET /x HTTP/1.1\r\n${H}\r\n`, 'CL_REPEATED', 400],
  ['SMUG-CL-NEGATIVE / garden #26', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 'CL_INVALID', 400],
  ['CVE-2022-24801: CL with a plus sign', `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 'CL_INVALID', 400],
  ['CL as a list (5, 5)', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, 'CL_INVALID', 400],
  // rule: TE is exactly chunked (CVE-2019-15605, CVE-2022-32213)
  ['CVE-2019-15605: TE chunked-false', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked-false\r\n\r\n0\r\n\r\n`, 'TE_INVALID', 400],
  ['SMUG-TE-DOUBLE-CHUNKED', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`, 'TE_INVALID', 400],
  ['SMUG-TE-XCHUNKED', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 'TE_INVALID', 400],
  ['SMUG-TE-SP-BEFORE-COLON / smuggler TE : chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 'WHITESPACE_BEFORE_COLON', 400],
  ['CVE-2020-8287: TE twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 'TE_REPEATED', 400],
  ['CVE-2022-32215: folded TE', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n`, 'OBS_FOLD', 400],
  ['RFC 9112 §6.1: TE in HTTP/1.0', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'TE_HTTP10', 400],
  // rule: no whitespace before the colon (CVE-2021-22959; garden #3)
  ['CVE-2021-22959 / garden #3: Content-Length : 34', `POST / HTTP/1.1\r\n${H}Content-Length : 34\r\n\r\n`, 'WHITESPACE_BEFORE_COLON', 400],
  // rule: no obs-fold, no whitespace-led lines (CVE-2024-27982)
  ['CVE-2024-27982: CL folded into the previous field', `POST / HTTP/1.1\r\n${H}X: y\r\n Content-Length: 5\r\n\r\nhello`, 'OBS_FOLD', 400],
  ['garden #4: tab-led first field', `POST / HTTP/1.1\r\n\tContent-Length: 1\r\n${H}\r\nx`, 'OBS_FOLD', 400],
  // rule: CRLF everywhere (CVE-2022-32214, CVE-2022-35256, CVE-2023-30589)
  ['CVE-2022-32214: LF-delimited request', `GET / HTTP/1.1\n${H}\n`, 'BARE_LF', 400],
  ['CVE-2022-35256: field not terminated by CRLF', `GET / HTTP/1.1\r\n${H}X: 1\nContent-Length: 5\r\n\r\nhello`, 'BARE_LF', 400],
  ['CVE-2023-30589: bare CR as field delimiter', `GET / HTTP/1.1\r\n${H}X-Abc: \rxTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'BARE_CR', 400],
  ['CVE-2020-8201: Content\\r-Length', `POST / HTTP/1.1\r\n${H}Content\r-Length: 5\r\n\r\nhello`, 'BARE_CR', 400],
  // rule: exact CRLF CRLF terminator (CVE-2025-23167, garden #30)
  ['CVE-2025-23167 / garden #30', `GET / HTTP/1.1\r\n${H}\r\rZGET /evil HTTP/1.1\r\n${H}\r\n`, 'BARE_CR', 400],
  // rule: strict chunk lines (CVE-2021-22960, CVE-2022-24801, garden #31)
  ['garden #31: chunk line ended by \\r\\r', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`, 'BARE_CR', 400],
  ['CVE-2021-22960: LF inside a chunk extension', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2;a\nb\r\nab\r\n0\r\n\r\n`, 'BARE_LF', 400],
  ['CVE-2022-24801: 0x chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n`, 'INVALID_CHUNK_SIZE', 400],
  ['Twisted #10137: chunk data not followed by CRLF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n`, 'INVALID_CHUNK_DATA_END', 400],
  // rule: NUL never truncates a value (garden #35/#43)
  ['garden #35: NUL-truncated Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 1\x0050\r\n\r\nx`, 'INVALID_HEADER_VALUE', 400],
  // rule: names are tokens (garden #14, #18)
  ['garden #18: empty field name', `GET / HTTP/1.1\r\n${H}: x\r\n\r\n`, 'INVALID_HEADER_TOKEN', 400],
  ['garden #14: separator in a name', `GET / HTTP/1.1\r\n${H}Content-Length[]: 5\r\n\r\nhello`, 'INVALID_HEADER_TOKEN', 400],
  // rule: Host exactly once
  ['Host confusion: two Hosts', `GET / HTTP/1.1\r\nHost: good\r\nHost: evil\r\n\r\n`, 'HOST_REPEATED', 400],
  ['Host with userinfo', `GET / HTTP/1.1\r\nHost: good@evil\r\n\r\n`, 'HOST_INVALID', 400],
];

describe('smuggling corpus', () => {
  it.each(cases)('%s', (_name, input, code, status) => {
    const log = runAllSplits('request', input);
    expect(log[log.length - 1]).toEqual({ type: 'error', code, status });
    // A bad head yields no request; a bad body yields its head only — never a smuggled second one.
    expect(log.filter((e) => e.type === 'request').length).toBeLessThanOrEqual(1);
  });

  // smuggler gadgets: each byte mutation around a TE field must never yield a chunked request.
  const bytes = [0x01, 0x04, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0xa0, 0xff];
  const gadgets: [string, string][] = [];
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    gadgets.push([`mid ${b.toString(16)}`, `Transfer-Encoding:${c}chunked`]);
    gadgets.push([`post ${b.toString(16)}`, `Transfer-Encoding${c}: chunked`]);
    gadgets.push([`pre ${b.toString(16)}`, `${c}Transfer-Encoding: chunked`]);
    gadgets.push([`end ${b.toString(16)}`, `Transfer-Encoding: chunked${c}`]);
    gadgets.push([`X: X${b.toString(16)}TE`, `X: X${c}Transfer-Encoding: chunked`]);
  }
  it.each(gadgets)('smuggler gadget %s: accepted only as plain chunked, else rejected', (_name, field) => {
    const log = runAllSplits('request', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n${field}\r\n\r\n0\r\n\r\n`);
    const last = log[log.length - 1]!;
    // Either an error, or (for OWS-only mutations and values of an unrelated field) the CL+TE conflict or a CL body — never a TE body.
    if (last.type === 'error') expect(last.status).toBe(400);
    else expect(log[0]).toMatchObject({ type: 'request', chunked: false, contentLength: 5 });
  });
});
