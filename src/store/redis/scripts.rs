//! The Lua scripts of the Redis store, and [`Step`]: one all-or-nothing change.
//!
//! A step is a list of guards checked first and writes applied only if every guard holds,
//! run by one script (`COMMIT`), so Redis applies it atomically. Guards are how the store
//! does optimistic concurrency: a step built from what a node read (a record's version, the
//! length of a parked-receipt list, the absence of a carrier-id mapping) fails with
//! [`StepResult::Conflict`] when another node changed it in between, and the caller reads
//! again and retries. A claim guard (dedupe, idempotency) fails with [`StepResult::Claimed`].

use redis::Script;

use super::super::StoreError;

/// Runs a batch of steps, each all-or-nothing, in order, then publishes the wake-ups the
/// committed ones asked for. `KEYS` holds every key of every
/// step; `ARGV` is, per step: its offset into `KEYS`, its guard count, its token count, then
/// the guards and writes as flat tokens (`op`, 1-based key index within the step, then the
/// op's arguments; `hset` gives its field/value count first). Returns one outcome per step.
/// Flat arguments, not JSON: a record's JSON goes in as one bulk string that Lua never
/// decodes (cjson made every step cost ~40 us of Redis time).
pub const COMMIT: &str = r#"
local woken = {}

local function step(off, guards, i)
  local function key(t) return KEYS[off + tonumber(ARGV[t])] end
  for g = 1, guards do
    local op, k = ARGV[i], key(i + 1)
    i = i + 2
    if op == 'claim' then
      if redis.call('EXISTS', k) == 1 then return 'claimed' end
    elseif op == 'absent' then
      if redis.call('EXISTS', k) == 1 then return 'conflict' end
    elseif op == 'field' then
      local v = redis.call('HGET', k, ARGV[i])
      if (v or '') ~= ARGV[i + 1] then return 'conflict' end
      i = i + 2
    elseif op == 'llen' then
      if redis.call('LLEN', k) ~= tonumber(ARGV[i]) then return 'conflict' end
      i = i + 1
    elseif op == 'zmember' then
      if not redis.call('ZSCORE', k, ARGV[i]) then return 'conflict' end
      i = i + 1
    elseif op == 'xmine' then
      -- Entry ARGV[i + 1] of stream k is pending with consumer ARGV[i + 2] of group ARGV[i].
      local mine = redis.call('XPENDING', k, ARGV[i], ARGV[i + 1], ARGV[i + 1], 1, ARGV[i + 2])
      if #mine == 0 then return 'conflict' end
      i = i + 3
    elseif op == 'xentry' then
      if #redis.call('XRANGE', k, ARGV[i], ARGV[i]) == 0 then return 'conflict' end
      i = i + 1
    else
      error('unknown guard ' .. tostring(op))
    end
  end
  return i
end

local function writes(off, i, last)
  local function key(t) return KEYS[off + tonumber(ARGV[t])] end
  while i <= last do
    local op, k = ARGV[i], key(i + 1)
    i = i + 2
    if op == 'set' then redis.call('SET', k, ARGV[i]); i = i + 1
    elseif op == 'setpx' then redis.call('SET', k, ARGV[i], 'PX', ARGV[i + 1]); i = i + 2
    elseif op == 'hset' then
      local n = tonumber(ARGV[i])
      redis.call('HSET', k, unpack(ARGV, i + 1, i + n))
      i = i + 1 + n
    elseif op == 'hdel' then redis.call('HDEL', k, ARGV[i]); i = i + 1
    elseif op == 'del' then redis.call('DEL', k)
    elseif op == 'rpush' then redis.call('RPUSH', k, ARGV[i]); i = i + 1
    elseif op == 'zadd' then redis.call('ZADD', k, ARGV[i], ARGV[i + 1]); i = i + 2
    elseif op == 'zaddgt' then redis.call('ZADD', k, 'GT', ARGV[i], ARGV[i + 1]); i = i + 2
    elseif op == 'zrem' then redis.call('ZREM', k, ARGV[i]); i = i + 1
    elseif op == 'sadd' then redis.call('SADD', k, ARGV[i]); i = i + 1
    elseif op == 'outbox' then
      -- k: the account's outbox stream; then the accounts set's key, the account and
      -- the entry.
      redis.call('XADD', k, '*', 'e', ARGV[i + 2])
      redis.call('SADD', key(i), ARGV[i + 1])
      i = i + 3
    elseif op == 'outboxat' then
      -- k: the account's outbox stream; then the keys of its delayed entries (by due time)
      -- and their JSON, the accounts set's key, the account, the due time and the entry. The
      -- stream makes its id (unique, in the stream's order) and forgets the entry at once:
      -- the group never sees it until a take finds it due and adds it again.
      local id = redis.call('XADD', k, '*', 'e', '')
      redis.call('XDEL', k, id)
      redis.call('ZADD', key(i), ARGV[i + 4], id)
      redis.call('HSET', key(i + 1), id, ARGV[i + 5])
      redis.call('SADD', key(i + 2), ARGV[i + 3])
      i = i + 6
    elseif op == 'xadd' then redis.call('XADD', k, '*', 'id', ARGV[i]); i = i + 1
    elseif op == 'wake' then
      -- Publish topic ARGV[i + 1] on channel ARGV[i] once the batch is done (k unused).
      woken[ARGV[i] .. '\n' .. ARGV[i + 1]] = {ARGV[i], ARGV[i + 1]}
      i = i + 2
    elseif op == 'xdone' then
      -- k: an outbox stream; its group ARGV[i], the entry's id ARGV[i + 1].
      redis.call('XACK', k, ARGV[i], ARGV[i + 1])
      redis.call('XDEL', k, ARGV[i + 1])
      i = i + 2
    else
      error('unknown write ' .. tostring(op))
    end
  end
end

local outcomes = {}
local i = 1
while i <= #ARGV do
  local off, guards, count = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local first, last = i + 3, i + 2 + count
  local after_guards = step(off, guards, first)
  if type(after_guards) == 'string' then
    outcomes[#outcomes + 1] = after_guards
  else
    writes(off, after_guards, last)
    outcomes[#outcomes + 1] = 'ok'
  end
  i = last + 1
end
for _, wake in pairs(woken) do
  redis.call('PUBLISH', wake[1], wake[2])
end
return outcomes
"#;

/// Reads up to `count` new entries of `stream` for consumer `consumer` of `group`, creating
/// the group (from the stream's start) on first use. Shared by the take scripts.
const READ_GROUP: &str = r#"
local function read_group(stream, group, consumer, count)
  local ok, read = pcall(redis.call, 'XREADGROUP', 'GROUP', group, consumer,
    'COUNT', count, 'STREAMS', stream, '>')
  if not ok then
    redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
    read = redis.call('XREADGROUP', 'GROUP', group, consumer,
      'COUNT', count, 'STREAMS', stream, '>')
  end
  if read then return read[1][2] end
  return {}
end
"#;

/// Takes up to ARGV[2] MTs of one connector for consumer ARGV[4] of group ARGV[3]. KEYS: the
/// connector's streams, highest priority first, each priority's released MTs before its
/// queue. With ARGV[1] > 0, entries another consumer has held for ARGV[1] ms or more (its
/// lease ran out) are claimed before new ones, stream by stream. Returns key index, entry
/// id, MT id, record JSON ('' when missing, from the hash named ARGV[5] .. MT id), ...
pub const TAKE_MTS: &str = r#"
local reclaim, max, group, consumer = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local out, taken = {}, 0
local function add(k, entries)
  for _, entry in ipairs(entries) do
    -- A deleted entry still pending comes back without fields.
    if type(entry[2]) == 'table' then
      local id = entry[2][2]
      out[#out + 1] = k
      out[#out + 1] = entry[1]
      out[#out + 1] = id
      out[#out + 1] = redis.call('HGET', ARGV[5] .. id, 'json') or ''
      taken = taken + 1
    end
  end
end
for k, stream in ipairs(KEYS) do
  if taken >= max then break end
  if reclaim > 0 and redis.call('EXISTS', stream) == 1 then
    local ok, claimed = pcall(redis.call, 'XAUTOCLAIM', stream, group, consumer, reclaim,
      '0-0', 'COUNT', max - taken)
    if ok then add(k, claimed[2]) end
  end
  if taken < max then add(k, read_group(stream, group, consumer, max - taken)) end
end
return out
"#;

/// Finds what a carrier's receipt is for. KEYS[1]: the carrier-id key of its (normalised)
/// id; ARGV[1]: what message keys start with. Returns nothing when the id maps to nothing,
/// else the mapping's JSON and that message's record JSON and version ('' when missing): a
/// receipt's reads are one round trip.
pub const FIND_RECEIPT_TARGET: &str = r#"
local mapping = redis.call('GET', KEYS[1])
if mapping then
  local id = cjson.decode(mapping).message_id
  local record = redis.call('HMGET', ARGV[1] .. id, 'json', 'v')
  return {mapping, record[1] or '', record[2] or ''}
end
return {}
"#;

/// Takes up to ARGV[3] outbox entries for consumer ARGV[5] of group ARGV[4]. KEYS: the
/// account's stream, its delayed retries (ids by due time), their entries. Retries due by ARGV[1] (now) go back to the stream
/// first; with ARGV[2] > 0, entries another consumer has held for ARGV[2] ms or more (its
/// lease ran out) are claimed before new ones are read. Returns id, JSON, id, JSON...
pub const TAKE_OUTBOX: &str = r#"
local stream, delayed, group, consumer = KEYS[1], KEYS[2], ARGV[4], ARGV[5]
local max = tonumber(ARGV[3])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', ARGV[1], 'LIMIT', 0, max)) do
  local entry = redis.call('HGET', KEYS[3], id)
  if entry then redis.call('XADD', stream, '*', 'e', entry) end
  redis.call('ZREM', delayed, id)
  redis.call('HDEL', KEYS[3], id)
end
local out = {}
local function add(entries)
  for _, entry in ipairs(entries) do
    -- A deleted entry still pending comes back without fields.
    if type(entry[2]) == 'table' then
      out[#out + 1] = entry[1]
      out[#out + 1] = entry[2][2]
    end
  end
end
if tonumber(ARGV[2]) > 0 then
  local ok, claimed = pcall(redis.call, 'XAUTOCLAIM', stream, group, consumer, ARGV[2],
    '0-0', 'COUNT', max)
  if ok then add(claimed[2]) end
end
if #out < 2 * max then add(read_group(stream, group, consumer, max - #out / 2)) end
return out
"#;

/// Whether any of the streams KEYS[2..] has work for group ARGV[1]: an entry the group has
/// not read, or one pending for ARGV[2] ms or more (a lease ran out); or, when KEYS[1] is a
/// sorted set of delayed retries, one due by ARGV[3].
pub const HAS_WORK: &str = r#"
if redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[3]) > 0 then return 1 end
local function parts(id)
  local ms, n = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(n)
end
for k = 2, #KEYS do
  local last = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)[1]
  if last then
    local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[k])
    local read = nil
    if ok then
      for _, info in ipairs(groups) do
        local fields = {}
        for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
        if fields['name'] == ARGV[1] then read = fields['last-delivered-id'] end
      end
    end
    if not read then return 1 end
    local last_ms, last_n = parts(last[1])
    local read_ms, read_n = parts(read)
    if last_ms > read_ms or (last_ms == read_ms and last_n > read_n) then return 1 end
    if #redis.call('XPENDING', KEYS[k], ARGV[1], 'IDLE', ARGV[2], '-', '+', 1) > 0 then
      return 1
    end
  end
end
return 0
"#;

/// Queued, not taken, entries of the streams KEYS for group ARGV[1]: length minus pending.
pub const STREAMS_QUEUED: &str = r#"
local total = 0
for _, stream in ipairs(KEYS) do
  local len = redis.call('XLEN', stream)
  if len > 0 then
    local ok, pending = pcall(redis.call, 'XPENDING', stream, ARGV[1])
    if ok then len = len - pending[1] end
    total = total + len
  end
end
return total
"#;

/// Removes outbox entries created at or before ARGV[1] (ms) from the stream (KEYS[1], group
/// ARGV[2]) and from the delayed retries (KEYS[2], their entries KEYS[3]). Returns id, JSON,
/// id, JSON...
pub const EXPIRE_OUTBOX: &str = r#"
local out = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', ARGV[1], 'COUNT', 10000)) do
  if type(entry[2]) == 'table' then
    out[#out + 1] = entry[1]
    out[#out + 1] = entry[2][2]
  end
  pcall(redis.call, 'XACK', KEYS[1], ARGV[2], entry[1])
  redis.call('XDEL', KEYS[1], entry[1])
end
local retries = redis.call('HGETALL', KEYS[3])
for i = 1, #retries, 2 do
  local id, json = retries[i], retries[i + 1]
  if cjson.decode(json).created_ms <= tonumber(ARGV[1]) then
    out[#out + 1] = id
    out[#out + 1] = json
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  end
end
return out
"#;

/// Deletes the consumers of group ARGV[1] on the streams KEYS that have nothing pending and
/// were idle for ARGV[2] ms or more, except ARGV[3] (the caller). Returns how many.
pub const REMOVE_IDLE_CONSUMERS: &str = r#"
local removed = 0
for _, stream in ipairs(KEYS) do
  local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', stream, ARGV[1])
  if ok then
    for _, info in ipairs(consumers) do
      local fields = {}
      for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
      if fields['name'] ~= ARGV[3] and tonumber(fields['pending']) == 0
          and tonumber(fields['idle']) >= tonumber(ARGV[2]) then
        redis.call('XGROUP', 'DELCONSUMER', stream, ARGV[1], fields['name'])
        removed = removed + 1
      end
    end
  end
end
return removed
"#;

/// Forgets an outbox with nothing left: when its stream (KEYS[1]) and delayed entries (KEYS[2])
/// are empty, deletes them, their JSON (KEYS[3]) and the account ARGV[1] from the accounts set
/// (KEYS[4]). Returns 1 if it did.
pub const FORGET_EMPTY_OUTBOX: &str = r#"
if redis.call('XLEN', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  redis.call('SREM', KEYS[4], ARGV[1])
  return 1
end
return 0
"#;

/// Deletes the keys an index (KEYS[1], sorted set) scores at or before ARGV[1], and their
/// index entries. A member names the key ARGV[2] .. member. With ARGV[3] = 'lists', counts
/// list elements instead of keys. Returns the count.
pub const SWEEP_INDEX: &str = r#"
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = 0
for _, member in ipairs(members) do
  local key = ARGV[2] .. member
  if ARGV[3] == 'lists' then count = count + redis.call('LLEN', key) else count = count + 1 end
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], member)
end
return count
"#;

/// Adds up to ARGV[1] to the counter KEYS[1], never past ARGV[2]; a new counter expires
/// after ARGV[3] ms. Returns what it added.
pub const TAKE_TOKENS: &str = r#"
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - taken)
if grant <= 0 then return 0 end
if redis.call('INCRBY', KEYS[1], grant) == grant then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return grant
"#;

/// The server's clock in ms (one clock for every node's leases).
const NOW_MS: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
"#;

/// Claims a place in KEYS[1] (holders by lease end) for holder ARGV[1], for ARGV[2] ms, when
/// fewer than ARGV[3] unexpired holders are there. Returns 1 when claimed.
const CLAIM_SLOT: &str = r#"
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// Extends holder ARGV[1]'s lease in KEYS[1] to ARGV[2] ms from now, if it still holds a
/// place. Returns 1 when it did.
const RENEW_SLOT: &str = r#"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"#;

/// The scripts, hashed once (EVALSHA, falling back to EVAL after a server restart).
pub struct Scripts {
    pub take_mts: Script,
    pub find_receipt_target: Script,
    pub take_outbox: Script,
    pub has_work: Script,
    pub streams_queued: Script,
    pub expire_outbox: Script,
    pub sweep_index: Script,
    pub remove_idle_consumers: Script,
    pub forget_empty_outbox: Script,
    pub take_tokens: Script,
    pub claim_slot: Script,
    pub renew_slot: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            take_mts: Script::new(&format!("{READ_GROUP}{TAKE_MTS}")),
            find_receipt_target: Script::new(FIND_RECEIPT_TARGET),
            take_outbox: Script::new(&format!("{READ_GROUP}{TAKE_OUTBOX}")),
            has_work: Script::new(HAS_WORK),
            streams_queued: Script::new(STREAMS_QUEUED),
            expire_outbox: Script::new(EXPIRE_OUTBOX),
            sweep_index: Script::new(SWEEP_INDEX),
            remove_idle_consumers: Script::new(REMOVE_IDLE_CONSUMERS),
            forget_empty_outbox: Script::new(FORGET_EMPTY_OUTBOX),
            take_tokens: Script::new(TAKE_TOKENS),
            claim_slot: Script::new(&format!("{NOW_MS}{CLAIM_SLOT}")),
            renew_slot: Script::new(&format!("{NOW_MS}{RENEW_SLOT}")),
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepResult {
    Committed,
    /// A claim guard found its key taken; nothing was written.
    Claimed,
    /// Another writer changed what the step was built on; nothing was written.
    Conflict,
}

/// One all-or-nothing change, built in Rust and run by [`COMMIT`].
#[derive(Debug, Default)]
pub struct Step {
    keys: Vec<String>,
    guard_count: usize,
    guards: Vec<String>,
    writes: Vec<String>,
}

impl Step {
    /// The 1-based `KEYS` index of `key`, added once.
    fn k(&mut self, key: &str) -> String {
        let index = match self.keys.iter().position(|k| k == key) {
            Some(i) => i + 1,
            None => {
                self.keys.push(key.to_owned());
                self.keys.len()
            }
        };
        index.to_string()
    }

    fn guard(&mut self, op: &str, key: &str, args: &[&str]) -> &mut Self {
        let k = self.k(key);
        self.guard_count += 1;
        self.guards.push(op.to_owned());
        self.guards.push(k);
        self.guards.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    fn write(&mut self, op: &str, key: &str, args: &[&str]) -> &mut Self {
        let k = self.k(key);
        self.writes.push(op.to_owned());
        self.writes.push(k);
        self.writes.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Fails with [`StepResult::Claimed`] if `key` exists.
    pub fn claim(&mut self, key: &str) -> &mut Self {
        self.guard("claim", key, &[])
    }

    pub fn absent(&mut self, key: &str) -> &mut Self {
        self.guard("absent", key, &[])
    }

    /// The hash field must hold `value` ("" = missing).
    pub fn field_is(&mut self, key: &str, field: &str, value: &str) -> &mut Self {
        self.guard("field", key, &[field, value])
    }

    pub fn list_len_is(&mut self, key: &str, len: usize) -> &mut Self {
        self.guard("llen", key, &[&len.to_string()])
    }

    pub fn member_of(&mut self, key: &str, member: &str) -> &mut Self {
        self.guard("zmember", key, &[member])
    }

    pub fn set(&mut self, key: &str, value: &str, ttl_ms: Option<u64>) -> &mut Self {
        match ttl_ms {
            Some(px) => self.write("setpx", key, &[value, &px.max(1).to_string()]),
            None => self.write("set", key, &[value]),
        }
    }

    pub fn hset(&mut self, key: &str, fields: &[(&str, &str)]) -> &mut Self {
        let count = (fields.len() * 2).to_string();
        let mut args = vec![count.as_str()];
        args.extend(fields.iter().flat_map(|(f, v)| [*f, *v]));
        self.write("hset", key, &args)
    }

    pub fn hdel(&mut self, key: &str, field: &str) -> &mut Self {
        self.write("hdel", key, &[field])
    }

    pub fn del(&mut self, key: &str) -> &mut Self {
        self.write("del", key, &[])
    }

    pub fn rpush(&mut self, key: &str, value: &str) -> &mut Self {
        self.write("rpush", key, &[value])
    }

    pub fn zadd(&mut self, key: &str, score: u64, member: &str) -> &mut Self {
        self.write("zadd", key, &[&score.to_string(), member])
    }

    /// Adds, or raises the score only if `score` is greater.
    pub fn zadd_greater(&mut self, key: &str, score: u64, member: &str) -> &mut Self {
        self.write("zaddgt", key, &[&score.to_string(), member])
    }

    pub fn zrem(&mut self, key: &str, member: &str) -> &mut Self {
        self.write("zrem", key, &[member])
    }

    pub fn sadd(&mut self, key: &str, member: &str) -> &mut Self {
        self.write("sadd", key, &[member])
    }

    /// Appends `entry_json` to `account`'s outbox stream (and the account to `accounts`).
    pub fn outbox_append(
        &mut self,
        stream: &str,
        accounts: &str,
        account: &str,
        entry_json: &str,
    ) -> &mut Self {
        let accounts = self.k(accounts);
        self.write("outbox", stream, &[&accounts, account, entry_json])
    }

    /// Adds `entry_json` to `account`'s outbox not due before `due_ms` (see `outboxat`).
    #[allow(clippy::too_many_arguments)]
    pub fn outbox_append_delayed(
        &mut self,
        stream: &str,
        delayed: &str,
        entries: &str,
        accounts: &str,
        account: &str,
        due_ms: u64,
        entry_json: &str,
    ) -> &mut Self {
        let (delayed, entries, accounts) = (self.k(delayed), self.k(entries), self.k(accounts));
        let due = due_ms.to_string();
        self.write(
            "outboxat",
            stream,
            &[&delayed, &entries, &accounts, account, &due, entry_json],
        )
    }

    /// The stream entry `id` must exist.
    pub fn stream_entry_exists(&mut self, stream: &str, id: &str) -> &mut Self {
        self.guard("xentry", stream, &[id])
    }

    /// Entry `id` of `stream` must be pending with `consumer` of `group`.
    pub fn stream_entry_held(
        &mut self,
        stream: &str,
        group: &str,
        id: &str,
        consumer: &str,
    ) -> &mut Self {
        self.guard("xmine", stream, &[group, id, consumer])
    }

    /// Appends an entry with the one field `id` = `value` to `stream`.
    pub fn stream_add(&mut self, stream: &str, value: &str) -> &mut Self {
        self.write("xadd", stream, &[value])
    }

    /// Once the batch is done, publishes `topic` on `channel` (once per batch and topic), to
    /// wake whoever waits for `stream` (see `wakeups`).
    pub fn wake(&mut self, stream: &str, channel: &str, topic: &str) -> &mut Self {
        self.write("wake", stream, &[channel, topic])
    }

    /// Acknowledges and deletes the stream entry `id` (read through `group`).
    pub fn stream_done(&mut self, stream: &str, group: &str, id: &str) -> &mut Self {
        self.write("xdone", stream, &[group, id])
    }

    /// Appends this step to a batch: its keys to `keys`, its tokens to `args`.
    pub fn append_to(self, keys: &mut Vec<String>, args: &mut Vec<String>) {
        args.push(keys.len().to_string());
        args.push(self.guard_count.to_string());
        args.push((self.guards.len() + self.writes.len()).to_string());
        keys.extend(self.keys);
        args.extend(self.guards.into_iter().chain(self.writes));
    }
}

/// Reads the outcome [`COMMIT`] gave one step.
pub fn step_result(outcome: &str) -> Result<StepResult, StoreError> {
    match outcome {
        "ok" => Ok(StepResult::Committed),
        "claimed" => Ok(StepResult::Claimed),
        "conflict" => Ok(StepResult::Conflict),
        other => Err(StoreError::Backend(format!("commit script said {other}"))),
    }
}
