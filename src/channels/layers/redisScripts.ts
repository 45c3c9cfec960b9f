/**
 * The Lua scripts of the Redis channel layer. Each does exactly what the script of the same
 * purpose in channels_redis 4.x does (same commands, same arguments, same reply), so keys
 * written by either layer read the same from both. They run with `EVALSHA`, falling back to
 * `EVAL` on `NOSCRIPT`.
 * @module
 */
import { RedisScript } from '../../redis/client.js';

/**
 * `groupSend` on one host, atomically: for each channel key, add the message if the key holds
 * fewer members than its capacity (and refresh the key's expiry), else skip it. Returns how many
 * keys were over capacity.
 *
 * - `KEYS`: the channel keys (each at most once);
 * - `ARGV`: one member per key, then one capacity per key, then the score (send time, float
 *   seconds), then the expiry in seconds.
 */
export const GROUP_SEND_SCRIPT = new RedisScript(
  `local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i = 1, #KEYS do
  if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
    redis.call('ZADD', KEYS[i], current_time, ARGV[i])
    redis.call('EXPIRE', KEYS[i], expiry)
  else
    over_capacity = over_capacity + 1
  end
end
return over_capacity
`,
);

/**
 * Before each blocking pop: move every member of the in-flight backup set (`ARGV[2]`, what a
 * receiver popped and did not confirm — it crashed or was cancelled) back into the channel key
 * (`ARGV[1]`) with its original score, then delete the backup. Called with no `KEYS`, as
 * channels_redis does.
 */
export const RESTORE_SCRIPT = new RedisScript(
  `local backed_up = redis.call('ZRANGE', ARGV[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
  redis.call('ZADD', ARGV[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', ARGV[2])
`,
);

/** The suffix of the in-flight backup key of a channel key (`asgitasks` → `asgitasks$inflight`). */
export const INFLIGHT_SUFFIX = '$inflight';
