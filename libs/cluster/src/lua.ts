import { createHash } from 'node:crypto';
import type { RedisClient } from '@traverse/redis';

export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Runs a script by its SHA, loading it when the server does not know it yet (works on Cluster: keys pick the node). */
export async function runScript(client: RedisClient, s: LuaScript, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> {
  try {
    return await client.call('EVALSHA', s.sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!String((e as Error).message).includes('NOSCRIPT')) throw e;
    return client.call('EVAL', s.lua, keys.length, ...keys, ...args);
  }
}

/**
 * KEYS: streams. ARGV: n, count; then for each key the id of the last entry the writer has
 * folded from that stream ('' to read nothing from it); then n times: index of the stream in
 * KEYS, field count, fields. First reads, from each stream given an id, up to `count` entries
 * past it (what the writer has not folded yet), then appends the n entries in order: one atomic
 * step, so the writer's own entries of a stream directly follow what it read of it, and readers
 * blocked on the streams wake once for the whole group. Returns {ids, read}: the ids of the
 * appended entries, and the read in XREAD's shape (false when nothing was past the ids).
 */
export const BATCH_APPEND = script(`
local n = tonumber(ARGV[1])
local nk = #KEYS
local args = {'COUNT', ARGV[2], 'STREAMS'}
local ps = {}
for k = 1, nk do
  local pos = ARGV[2 + k]
  if pos ~= '' then
    args[#args + 1] = KEYS[k]
    ps[#ps + 1] = pos
  end
end
local read = false
if #ps > 0 then
  for i = 1, #ps do args[#args + 1] = ps[i] end
  read = redis.call('XREAD', unpack(args))
end
local ids = {}
local p = 3 + nk
for e = 1, n do
  local k = KEYS[tonumber(ARGV[p])]
  local nf = tonumber(ARGV[p + 1])
  ids[e] = redis.call('XADD', k, '*', unpack(ARGV, p + 2, p + 1 + nf))
  p = p + 2 + nf
end
return {ids, read}
`);

/** KEYS: stream, fence. ARGV: token, ...fields. Refuses a token lower than the highest one seen. */
export const FENCED_APPEND = script(`
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
local tok = tonumber(ARGV[1])
if tok < cur then return redis.error_reply('STALE_FENCING_TOKEN ' .. cur) end
if tok > cur then redis.call('SET', KEYS[2], ARGV[1]) end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
`);

/** KEYS: fence. ARGV: token. Raises the fence to the token (a new master fences out the old one). */
export const RAISE_FENCE = script(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0
`);

/** KEYS: stream, claim. ARGV: claim ttl ms, ...fields. Appends only if nobody claimed it before. */
export const CLAIMED_APPEND = script(`
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
end
return false
`);

/** KEYS: lease, token counter. ARGV: name, lease ms, address. Returns {1|0, value, pttl}. */
export const LEASE_ACQUIRE = script(`
local v = redis.call('GET', KEYS[1])
if v then return {0, v, redis.call('PTTL', KEYS[1])} end
local t = redis.call('INCR', KEYS[2])
local nv = ARGV[1] .. '\\n' .. t .. '\\n' .. ARGV[3]
redis.call('SET', KEYS[1], nv, 'PX', ARGV[2])
return {1, nv, tonumber(ARGV[2])}
`);

/** KEYS: lease. ARGV: expected value, lease ms. Check-and-extend. */
export const LEASE_RENEW = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
`);

/** KEYS: lease. ARGV: expected value. */
export const LEASE_RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`);

/** KEYS: snap, snap.prev, meta. ARGV: data, pos, time, node. Keeps one previous generation. */
export const SAVE_SNAPSHOT = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  local p = redis.call('HGET', KEYS[3], 'pos')
  if p then redis.call('HSET', KEYS[3], 'prevPos', p) end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[3], 'pos', ARGV[2], 'time', ARGV[3], 'node', ARGV[4])
return 1
`);

/** KEYS: stream, meta. ARGV: min id. Trims below it and records the highest id deleted (XTRIM does not). */
export const TRIM = script(`
local last = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1], '-', 'COUNT', 1)
if #last == 0 then return 0 end
local n = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
redis.call('HSET', KEYS[2], 'maxTrimmed', last[1][1])
return n
`);
