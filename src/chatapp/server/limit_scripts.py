"""The Lua scripts that count limits in Redis (:mod:`chatapp.server.shared_limits`), each check
and count one atomic step, whichever process runs it.

They follow :mod:`chatapp.server.ratelimit` line by line, so that several processes together
count as one did: :data:`FAILURES` is ``FailureThrottle`` (one hash per key), :data:`WINDOW` is
``WindowCounter`` (a sorted set of event times per key) and :data:`SEATS` counts connections per
address and network, one hash per process. Times are seconds passed in by the caller (the wall
clock, which the processes share; tests pass made-up ones); every key has a TTL covering the time
its state still matters, so Redis forgets what no longer counts. Numbers go back as strings:
Redis would cut a Lua number to an integer.

The scripts name keys they build (the other processes' hashes in :data:`SEATS`): fine on one
Redis server, which is what ``--redis-url`` names, not on a Redis Cluster.
"""

from __future__ import annotations

_COMMON = """
local function fmt(x) return string.format('%.17g', x) end
"""

FAILURES = (
    _COMMON
    + """
-- KEYS[1] the address's hash, KEYS[2] the account's (the address's again when only it matters)
-- ARGV: op, now, free per address, free per account, base, max delay, decay, stale, flag
local op = ARGV[1]
local now = tonumber(ARGV[2])
local base, max_delay = tonumber(ARGV[5]), tonumber(ARGV[6])
local decay, stale = tonumber(ARGV[7]), tonumber(ARGV[8])

-- The key's state with its due failures forgiven; nil (and gone) when nothing is left of it.
-- c failures, p attempts pending, b blocked until, d decay clock start, t latest reservation.
local function load(key)
  local v = redis.call('HMGET', key, 'c', 'p', 'b', 'd', 't')
  if not v[1] then return nil end
  local e = {c = tonumber(v[1]), p = tonumber(v[2]), b = tonumber(v[3]), d = tonumber(v[4]),
             t = tonumber(v[5])}
  if e.c > 0 and now - e.d >= decay then
    local steps = math.floor((now - e.d) / decay)
    e.c = math.max(0, e.c - steps)
    e.d = e.d + steps * decay
  end
  -- Pending that long: the attempts of a process that died before settling them.
  if e.p > 0 and now - e.t >= stale then e.p = 0 end
  if e.c == 0 and e.p == 0 and e.b <= now then
    redis.call('DEL', key)
    return nil
  end
  return e
end

local function save(key, e)
  if e.c == 0 and e.p == 0 and e.b <= now then
    redis.call('DEL', key)
    return
  end
  local ttl = math.max(e.b - now, 0)
  if e.c > 0 then ttl = math.max(ttl, e.d + e.c * decay - now) end
  if e.p > 0 then ttl = math.max(ttl, e.t + stale - now) end
  redis.call('HSET', key, 'c', fmt(e.c), 'p', fmt(e.p), 'b', fmt(e.b), 'd', fmt(e.d), 't', fmt(e.t))
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + 1000)
end

local function reserve(key, free, past_block)
  local e = load(key) or {c = 0, p = 0, b = 0, d = now, t = now}
  if e.c + e.p < free then
    e.p = e.p + 1
    e.t = now
    save(key, e)
    return 0
  end
  if e.p > 0 then return math.max(base, e.b - now) end  -- one at a time now
  local wait = e.b - now
  if wait > 0 and not past_block then return wait end
  e.p = 1
  e.t = now
  save(key, e)
  return 0
end

local function failed(key, free, reserved)
  local e = load(key)
  if e == nil then
    e = {c = 0, p = 0, b = 0, d = now, t = now}
  elseif reserved then
    e.p = math.max(0, e.p - 1)
  end
  if e.c == 0 then e.d = now end
  e.c = e.c + 1
  local over = e.c - free
  if over >= 0 then e.b = now + math.min(max_delay, base * 2 ^ math.min(over, 30)) end
  save(key, e)
end

-- An attempt settled without a failure (one reserved here leaves the pending count); a success
-- forgives every failure of the key.
local function release(key, reserved, forgive)
  local e = load(key)
  if e ~= nil then
    if reserved then e.p = math.max(0, e.p - 1) end
    if forgive then
      e.c = 0
      e.b = 0
    end
    save(key, e)
  end
end

local free_address, free_account = tonumber(ARGV[3]), tonumber(ARGV[4])
if op == 'reserve' then
  -- An account blocked by failures lets an attempt from a clean address through.
  local clean = load(KEYS[1]) == nil
  local wait = reserve(KEYS[1], free_address, false)
  if wait == 0 then
    wait = reserve(KEYS[2], free_account, clean)
    if wait > 0 then release(KEYS[1], true, false) end
  end
  return fmt(wait)
elseif op == 'settle' then
  -- ARGV[9]: fail, ok or none (no verdict); ARGV[10]: 1 if reserved here
  local verdict, reserved = ARGV[9], ARGV[10] == '1'
  if verdict == 'fail' then
    failed(KEYS[1], free_address, reserved)
    failed(KEYS[2], free_account, reserved)
  else
    release(KEYS[1], reserved, false)
    release(KEYS[2], reserved, verdict == 'ok')
  end
  return '0'
elseif op == 'blocked' then
  local e = load(KEYS[1])
  if e == nil then return '0' end
  return fmt(math.max(0, e.b - now))
elseif op == 'failed' then
  failed(KEYS[1], free_address, false)
  return '0'
end
return redis.error_reply('unknown op ' .. op)
"""
)

WINDOW = (
    _COMMON
    + """
-- KEYS[1] the key's sorted set of events (member: a unique name, score: its time)
-- ARGV: op, now, window, limit, member
local op, now = ARGV[1], tonumber(ARGV[2])
local window, limit, member = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
if op == 'cancel' then
  redis.call('ZREM', KEYS[1], member)
  return '0'
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - window))
local n = redis.call('ZCARD', KEYS[1])
if n > 0 and n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return fmt(window - (now - tonumber(oldest[2])))
end
redis.call('ZADD', KEYS[1], fmt(now), member)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return '0'
"""
)

SEATS = """
-- KEYS[1] the set of processes holding connections, KEYS[2] this process's hash
-- (field 'a:ADDRESS' or 'n:NETWORK': how many connections this process holds from it)
-- ARGV: op, node, key prefix, address field, network field, this process's count of the address
-- and of the network when the connection came (itself included), per address, per network, TTL
-- (ms), and this process's counts of the address and of the network now
local op, node, prefix = ARGV[1], ARGV[2], ARGV[3]
local fa, fn = ARGV[4], ARGV[5]
local mine_a, mine_n = tonumber(ARGV[6]), tonumber(ARGV[7])
local ttl = tonumber(ARGV[10])

local function put(field, count)
  if count > 0 then
    redis.call('HSET', KEYS[2], field, tostring(count))
  else
    redis.call('HDEL', KEYS[2], field)
  end
end

if op == 'take' then
  redis.call('SADD', KEYS[1], node)
  local others_a, others_n = 0, 0
  for _, other in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if other ~= node then
      local key = prefix .. other
      if redis.call('EXISTS', key) == 0 then
        -- Its hash expired (a dead process), or it holds nothing now (it adds itself back).
        redis.call('SREM', KEYS[1], other)
      else
        local v = redis.call('HMGET', key, fa, fn)
        others_a = others_a + tonumber(v[1] or 0)
        others_n = others_n + tonumber(v[2] or 0)
      end
    end
  end
  if others_a + mine_a > tonumber(ARGV[8]) then return 1 end
  if others_n + mine_n > tonumber(ARGV[9]) then return 2 end
end
-- 'take' (allowed) and 'sync': this process's counts as they are now
put(fa, tonumber(ARGV[11]))
put(fn, tonumber(ARGV[12]))
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 0
"""
