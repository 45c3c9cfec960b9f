/**
 * Every test starts with error tracking on and fails if it leaves an error
 * behind: a failure nobody handled in a Deferred, or an error logged with a
 * failure. A test that expects such errors takes them with flushLoggedErrors.
 */
import { afterEach, beforeEach } from 'vitest';
import { beginLoggingTo } from '../src/logger/index.js';
import { beginErrorTracking, endErrorTracking } from '../src/testing/loggedErrors.js';

// Errors are reported through the test results (below), not printed to stderr;
// SPINDLE_TEST_LOG=1 keeps the default stderr output for debugging.
if (process.env.SPINDLE_TEST_LOG !== '1') beginLoggingTo([]);

beforeEach(() => {
  beginErrorTracking();
});

afterEach(() => {
  const left = endErrorTracking();
  if (left.length > 0) {
    throw new Error(
      `the test left ${left.length} unhandled error(s) behind (flush expected ones with flushLoggedErrors):\n\n` +
        left.map((f) => f.getTraceback()).join('\n\n'),
    );
  }
});
