//! Server-side scripts: lane leases, group membership and safe trimming.

use std::sync::LazyLock;

use redis::Script;

/// Takes or renews a lease. KEYS[1] lease key; ARGV[1] member, ARGV[2] ttl ms.
/// Returns 1 when the caller holds the lease afterwards.
pub(super) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// Gives a lease up if the caller holds it. KEYS[1] lease key; ARGV[1] member.
pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Records that a member is alive and counts the live members.
/// KEYS[1] members zset; ARGV[1] member, ARGV[2] ttl ms, ARGV[3] "leave" to remove.
pub(super) static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == 'leave' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return redis.call('ZCARD', KEYS[1])
",
    )
});

/// Removes the entries every group of the stream has acknowledged.
/// KEYS[1] stream. Returns how many entries were removed.
pub(super) static TRIM_ACKNOWLEDGED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
local floor = nil
for _, g in ipairs(groups) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local candidate
  if tonumber(info['pending']) > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    candidate = summary[2]
  else
    local ms, seq = parse(info['last-delivered-id'])
    candidate = string.format('%d-%d', ms, seq + 1)
  end
  if floor == nil or less(candidate, floor) then floor = candidate end
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
",
    )
});
