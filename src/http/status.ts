/**
 * Status codes, reason phrases and pre-serialised status lines.
 *
 * @module
 */

/**
 * Reason phrases of the registered status codes (RFC 9110 §15 plus the
 * common extensions: 102, 103, 207, 208, 226, 418, 421–429, 431, 451, 506–511).
 */
export const STATUS_REASONS: Readonly<Record<number, string>> = Object.freeze({
  100: 'Continue',
  101: 'Switching Protocols',
  102: 'Processing',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  207: 'Multi-Status',
  208: 'Already Reported',
  226: 'IM Used',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  418: "I'm a Teapot",
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required',
});

// Index = status code; entries exist for the registered codes only.
const LINE_CACHE: (string | undefined)[] = new Array(600);
for (const key of Object.keys(STATUS_REASONS)) {
  const code = Number(key);
  LINE_CACHE[code] = `HTTP/1.1 ${code} ${STATUS_REASONS[code]}\r\n`;
}

/**
 * The reason phrase for `status`, or `''` when the code is not registered
 * (an empty reason is valid on the wire: `HTTP/1.1 299 \r\n`).
 */
export function reasonPhrase(status: number): string {
  return STATUS_REASONS[status] ?? '';
}

/**
 * The pre-serialised `HTTP/1.1 <code> <reason>\r\n` line for a registered
 * status code, or `undefined` for other codes (build those yourself; the
 * serializer does). Servers always answer with `HTTP/1.1`, even to 1.0 peers
 * (RFC 9110 §6.2).
 */
export function cachedStatusLine(status: number): string | undefined {
  return LINE_CACHE[status];
}
