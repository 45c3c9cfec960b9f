// A tour of Deferred chains in one screen: synchronous callbacks, the errback track, waiting
// on an inner Deferred, a timeout on a hand-driven clock, and awaiting a Deferred. Run it
// with `node examples/deferred-demo.js` after `npm run build`.
import { Deferred, TimeoutError, gatherResults, succeed } from 'spindle';
import { Clock } from 'spindle/testing';

function step(text) {
  console.log(`  ${text}`);
}

console.log('1. Callbacks run synchronously, in order:');
const d = new Deferred();
d.addCallback((n) => n * 2).addCallback((n) => step(`got ${n}`));
d.callback(21);

console.log('2. A throw switches to the errback track; returning recovers:');
succeed('{broken json')
  .addCallback((text) => JSON.parse(text))
  .addErrback((failure) => {
    step(`recovered from ${failure.type.name}`);
    return {};
  })
  .addCallback((value) => step(`continued with ${JSON.stringify(value)}`));

console.log('3. A callback returning a Deferred pauses the chain until it fires:');
const inner = new Deferred();
succeed('user')
  .addCallback(() => inner)
  .addCallback((posts) => step(`inner result arrived: ${posts}`));
step('(waiting on the inner Deferred...)');
inner.callback('3 posts');

console.log('4. Timeouts run on a clock you pass in (here one advanced by hand):');
const clock = new Clock();
const slow = new Deferred();
slow.addTimeout(5, clock).addErrback((failure) => {
  failure.trap(TimeoutError);
  step(`timed out after ${failure.value.timeout} s of clock time`);
});
clock.advance(5);

console.log('5. Deferreds are awaitable and combine:');
const values = await gatherResults([succeed(1), succeed(2), succeed(3)]);
step(`gatherResults gave ${JSON.stringify(values)}`);
