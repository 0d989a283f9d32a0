//! The Lua scripts: every multi-key operation runs as one script, so it is atomic, and every
//! key it touches shares the `{NAME}` hash tag (one cluster slot). Scripts are sent with
//! EVALSHA and loaded on `NOSCRIPT` (after a Redis restart, for instance).
//!
//! Time comes from Redis (`TIME`), never from the nodes, so node clocks don't matter.

use redis::Script;

/// Appends an update and indexes its id.
///
/// KEYS: stream, ids, id order. ARGV: event id, encoding, payload, max length (0: no cap).
/// Returns the entry id. The id is indexed only if absent (the first occurrence wins); when
/// the stream is capped, index entries whose stream entries were trimmed are dropped (at most
/// 1000 per call, so a lowered cap catches up over a few appends instead of blocking Redis).
const APPEND: &str = r#"
local cap = tonumber(ARGV[4])
local entry
if cap > 0 then
  entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'encoding', ARGV[2], 'update', ARGV[3])
else
  entry = redis.call('XADD', KEYS[1], '*', 'encoding', ARGV[2], 'update', ARGV[3])
end
if redis.call('HSETNX', KEYS[2], ARGV[1], entry) == 1 then
  redis.call('RPUSH', KEYS[3], entry .. ' ' .. ARGV[1])
end
if cap > 0 then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1]
  local fms, fseq = string.match(first, '^(%d+)-(%d+)$')
  fms, fseq = tonumber(fms), tonumber(fseq)
  for _ = 1, 1000 do
    local head = redis.call('LINDEX', KEYS[3], 0)
    if not head then break end
    local sp = string.find(head, ' ', 1, true)
    if not sp then
      redis.call('LPOP', KEYS[3])
    else
      local e = string.sub(head, 1, sp - 1)
      local ms, seq = string.match(e, '^(%d+)-(%d+)$')
      ms, seq = tonumber(ms), tonumber(seq)
      if ms > fms or (ms == fms and seq >= fseq) then break end
      redis.call('LPOP', KEYS[3])
      local id = string.sub(head, sp + 1)
      if redis.call('HGET', KEYS[2], id) == e then redis.call('HDEL', KEYS[2], id) end
    end
  end
end
return entry
"#;

/// Redis's clock in ms, as a string usable as a score.
const NOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

/// A node's heartbeat. KEYS: nodes, the node's presence hash. ARGV: node, timeout ms.
/// Returns 1 when the node was not registered (first heartbeat, or reaped meanwhile).
/// The hash expires after ten timeouts without a heartbeat, so a cluster that stopped
/// entirely leaves nothing behind for long.
const HEARTBEAT: &str = r#"
local timeout = tonumber(ARGV[2])
local added = redis.call('ZADD', KEYS[1], string.format('%.0f', now + timeout), ARGV[1])
redis.call('PEXPIRE', KEYS[2], timeout * 10)
return added
"#;

/// Replaces a node's presence hash. KEYS: the hash. ARGV: field, value, field, value...
const RESYNC: &str = r#"
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"#;

/// The records of every live node. KEYS: nodes. ARGV: presence prefix.
const LIST: &str = r#"
local live = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%.0f', now), '+inf')
local out = {}
for _, node in ipairs(live) do
  for _, v in ipairs(redis.call('HVALS', ARGV[1] .. node)) do out[#out + 1] = v end
end
return out
"#;

/// Takes the records of every expired node, atomically: the caller that runs this first gets
/// them, every other one gets nothing. KEYS: nodes. ARGV: presence prefix.
const REAP: &str = r#"
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
local out = {}
for _, node in ipairs(dead) do
  redis.call('ZREM', KEYS[1], node)
  local key = ARGV[1] .. node
  for _, v in ipairs(redis.call('HVALS', key)) do out[#out + 1] = v end
  redis.call('DEL', key)
end
return out
"#;

/// A node leaving. KEYS: nodes, the node's presence hash. ARGV: node.
const LEAVE: &str = r#"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"#;

/// The compiled scripts (each knows its SHA1).
pub struct Scripts {
    pub append: Script,
    pub heartbeat: Script,
    pub resync: Script,
    pub list: Script,
    pub reap: Script,
    pub leave: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        let timed = |body: &str| Script::new(&format!("{NOW}{body}"));
        Scripts {
            append: Script::new(APPEND),
            heartbeat: timed(HEARTBEAT),
            resync: Script::new(RESYNC),
            list: timed(LIST),
            reap: timed(REAP),
            leave: Script::new(LEAVE),
        }
    }
}
