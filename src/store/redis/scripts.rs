//! The Lua scripts of the Redis store, and [`Step`]: one all-or-nothing change.
//!
//! A step is a list of guards checked first and writes applied only if every guard holds,
//! run by one script (`COMMIT`), so Redis applies it atomically. Guards are how the store
//! does optimistic concurrency: a step built from what a node read (a record's version, the
//! length of a parked-receipt list, the absence of a carrier-id mapping) fails with
//! [`StepResult::Conflict`] when another node changed it in between, and the caller reads
//! again and retries. A claim guard (dedupe, idempotency) fails with [`StepResult::Claimed`].

use redis::Script;
use serde_json::{json, Value};

use super::super::StoreError;
use super::connect::Connection;

/// Runs a step: `KEYS` every key it touches, `ARGV[1]` JSON `{guards, writes}` whose `k`
/// fields index into `KEYS` (1-based).
pub const COMMIT: &str = r#"
local step = cjson.decode(ARGV[1])
for i, g in ipairs(step.guards) do
  local k = KEYS[g.k]
  if g.op == 'claim' then
    if redis.call('EXISTS', k) == 1 then return {'claimed', i} end
  elseif g.op == 'absent' then
    if redis.call('EXISTS', k) == 1 then return {'conflict', i} end
  elseif g.op == 'field' then
    local v = redis.call('HGET', k, g.f)
    if (v or '') ~= g.v then return {'conflict', i} end
  elseif g.op == 'hexists' then
    if redis.call('HEXISTS', k, g.f) == 0 then return {'conflict', i} end
  elseif g.op == 'llen' then
    if redis.call('LLEN', k) ~= g.n then return {'conflict', i} end
  elseif g.op == 'zmember' then
    if not redis.call('ZSCORE', k, g.m) then return {'conflict', i} end
  end
end
for _, w in ipairs(step.writes) do
  local k = KEYS[w.k]
  if w.op == 'set' then
    if w.px then redis.call('SET', k, w.v, 'PX', w.px) else redis.call('SET', k, w.v) end
  elseif w.op == 'hset' then redis.call('HSET', k, unpack(w.fv))
  elseif w.op == 'hdel' then redis.call('HDEL', k, w.f)
  elseif w.op == 'del' then redis.call('DEL', k)
  elseif w.op == 'rpush' then redis.call('RPUSH', k, w.v)
  elseif w.op == 'lpush' then redis.call('LPUSH', k, w.v)
  elseif w.op == 'lrem' then redis.call('LREM', k, 0, w.v)
  elseif w.op == 'zadd' then redis.call('ZADD', k, w.s, w.m)
  elseif w.op == 'zaddgt' then redis.call('ZADD', k, 'GT', w.s, w.m)
  elseif w.op == 'zrem' then redis.call('ZREM', k, w.m)
  elseif w.op == 'sadd' then redis.call('SADD', k, w.m)
  elseif w.op == 'outbox' then
    local seq = string.format('%020d', redis.call('INCR', KEYS[w.seq]))
    redis.call('HSET', KEYS[w.entries], seq, w.v)
    redis.call('ZADD', KEYS[w.due], 0, seq)
    redis.call('ZADD', KEYS[w.created_key], w.created_at, seq)
    redis.call('SADD', KEYS[w.accounts], w.account)
  end
end
return {'ok', 0}
"#;

/// Takes up to ARGV[3] MT ids of one connector. KEYS: the four rank queues, then the taken
/// set. Taken MTs whose lease expired (ARGV[1] = now) first go back to the head of their
/// queue; what is taken gets the lease ARGV[2].
pub const TAKE_MTS: &str = r#"
local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1])
for i = #expired, 1, -1 do
  local member = expired[i]
  local rank = tonumber(string.sub(member, 1, 1))
  redis.call('LPUSH', KEYS[rank + 1], string.sub(member, 2))
  redis.call('ZREM', KEYS[5], member)
end
local max = tonumber(ARGV[3])
local ids = {}
for rank = 0, 3 do
  while #ids < max do
    local id = redis.call('LPOP', KEYS[rank + 1])
    if not id then break end
    redis.call('ZADD', KEYS[5], ARGV[2], rank .. id)
    ids[#ids + 1] = id
  end
end
return ids
"#;

/// Takes up to ARGV[3] due outbox entries. KEYS: entries, due, taken. Taken entries whose
/// lease expired (ARGV[1] = now) are due again first; what is taken gets the lease ARGV[2].
/// Returns seq, JSON, seq, JSON...
pub const TAKE_OUTBOX: &str = r#"
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
for _, seq in ipairs(expired) do
  redis.call('ZADD', KEYS[2], 0, seq)
  redis.call('ZREM', KEYS[3], seq)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, seq in ipairs(due) do
  redis.call('ZREM', KEYS[2], seq)
  local entry = redis.call('HGET', KEYS[1], seq)
  if entry then
    redis.call('ZADD', KEYS[3], ARGV[2], seq)
    out[#out + 1] = seq
    out[#out + 1] = entry
  end
end
return out
"#;

/// Removes outbox entries created at or before ARGV[1]. KEYS: entries, due, taken, created.
/// Returns seq, JSON, seq, JSON...
pub const EXPIRE_OUTBOX: &str = r#"
local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1])
local out = {}
for _, seq in ipairs(old) do
  local entry = redis.call('HGET', KEYS[1], seq)
  if entry then
    out[#out + 1] = seq
    out[#out + 1] = entry
  end
  redis.call('HDEL', KEYS[1], seq)
  redis.call('ZREM', KEYS[2], seq)
  redis.call('ZREM', KEYS[3], seq)
  redis.call('ZREM', KEYS[4], seq)
end
return out
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

/// The scripts, hashed once (EVALSHA, falling back to EVAL after a server restart).
pub struct Scripts {
    pub commit: Script,
    pub take_mts: Script,
    pub take_outbox: Script,
    pub expire_outbox: Script,
    pub sweep_index: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            commit: Script::new(COMMIT),
            take_mts: Script::new(TAKE_MTS),
            take_outbox: Script::new(TAKE_OUTBOX),
            expire_outbox: Script::new(EXPIRE_OUTBOX),
            sweep_index: Script::new(SWEEP_INDEX),
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
    guards: Vec<Value>,
    writes: Vec<Value>,
}

impl Step {
    /// The 1-based `KEYS` index of `key`, added once.
    fn k(&mut self, key: &str) -> usize {
        match self.keys.iter().position(|k| k == key) {
            Some(i) => i + 1,
            None => {
                self.keys.push(key.to_owned());
                self.keys.len()
            }
        }
    }

    /// Fails with [`StepResult::Claimed`] if `key` exists.
    pub fn claim(&mut self, key: &str) -> &mut Self {
        let k = self.k(key);
        self.guards.push(json!({"op": "claim", "k": k}));
        self
    }

    pub fn absent(&mut self, key: &str) -> &mut Self {
        let k = self.k(key);
        self.guards.push(json!({"op": "absent", "k": k}));
        self
    }

    /// The hash field must hold `value` ("" = missing).
    pub fn field_is(&mut self, key: &str, field: &str, value: &str) -> &mut Self {
        let k = self.k(key);
        self.guards
            .push(json!({"op": "field", "k": k, "f": field, "v": value}));
        self
    }

    pub fn field_exists(&mut self, key: &str, field: &str) -> &mut Self {
        let k = self.k(key);
        self.guards
            .push(json!({"op": "hexists", "k": k, "f": field}));
        self
    }

    pub fn list_len_is(&mut self, key: &str, len: usize) -> &mut Self {
        let k = self.k(key);
        self.guards.push(json!({"op": "llen", "k": k, "n": len}));
        self
    }

    pub fn member_of(&mut self, key: &str, member: &str) -> &mut Self {
        let k = self.k(key);
        self.guards
            .push(json!({"op": "zmember", "k": k, "m": member}));
        self
    }

    fn write(&mut self, op: &str, key: &str, mut fields: Value) -> &mut Self {
        let k = self.k(key);
        fields["op"] = json!(op);
        fields["k"] = json!(k);
        self.writes.push(fields);
        self
    }

    pub fn set(&mut self, key: &str, value: &str, ttl_ms: Option<u64>) -> &mut Self {
        match ttl_ms {
            Some(px) => self.write("set", key, json!({"v": value, "px": px.max(1).to_string()})),
            None => self.write("set", key, json!({"v": value})),
        }
    }

    pub fn hset(&mut self, key: &str, fields: &[(&str, &str)]) -> &mut Self {
        let flat: Vec<&str> = fields.iter().flat_map(|(f, v)| [*f, *v]).collect();
        self.write("hset", key, json!({"fv": flat}))
    }

    pub fn hdel(&mut self, key: &str, field: &str) -> &mut Self {
        self.write("hdel", key, json!({"f": field}))
    }

    pub fn del(&mut self, key: &str) -> &mut Self {
        self.write("del", key, json!({}))
    }

    pub fn rpush(&mut self, key: &str, value: &str) -> &mut Self {
        self.write("rpush", key, json!({"v": value}))
    }

    pub fn lpush(&mut self, key: &str, value: &str) -> &mut Self {
        self.write("lpush", key, json!({"v": value}))
    }

    pub fn lrem(&mut self, key: &str, value: &str) -> &mut Self {
        self.write("lrem", key, json!({"v": value}))
    }

    pub fn zadd(&mut self, key: &str, score: u64, member: &str) -> &mut Self {
        self.write("zadd", key, json!({"s": score.to_string(), "m": member}))
    }

    /// Adds, or raises the score only if `score` is greater.
    pub fn zadd_greater(&mut self, key: &str, score: u64, member: &str) -> &mut Self {
        self.write("zaddgt", key, json!({"s": score.to_string(), "m": member}))
    }

    pub fn zrem(&mut self, key: &str, member: &str) -> &mut Self {
        self.write("zrem", key, json!({"m": member}))
    }

    pub fn sadd(&mut self, key: &str, member: &str) -> &mut Self {
        self.write("sadd", key, json!({"m": member}))
    }

    /// Appends `entry_json` to an account's outbox under the next seq, due now.
    pub fn outbox_append(&mut self, keys: &OutboxKeys, entry_json: &str, created_ms: u64) {
        let (seq, entries, due, created, accounts) = (
            self.k(&keys.seq),
            self.k(&keys.entries),
            self.k(&keys.due),
            self.k(&keys.created),
            self.k(&keys.accounts),
        );
        self.writes.push(json!({
            "op": "outbox", "seq": seq, "entries": entries, "due": due,
            "created_key": created, "created_at": created_ms.to_string(),
            "accounts": accounts, "account": keys.account, "v": entry_json,
        }));
    }

    /// Runs the step atomically.
    pub async fn run(
        &self,
        scripts: &Scripts,
        conn: &mut Connection,
    ) -> Result<StepResult, StoreError> {
        let body = json!({"guards": self.guards, "writes": self.writes}).to_string();
        let mut invocation = scripts.commit.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        let (outcome, _guard): (String, i64) = invocation
            .arg(body)
            .invoke_async(conn)
            .await
            .map_err(StoreError::backend)?;
        match outcome.as_str() {
            "ok" => Ok(StepResult::Committed),
            "claimed" => Ok(StepResult::Claimed),
            "conflict" => Ok(StepResult::Conflict),
            other => Err(StoreError::Backend(format!("commit script said {other}"))),
        }
    }
}

/// The keys an outbox append touches.
pub struct OutboxKeys {
    pub account: String,
    pub seq: String,
    pub entries: String,
    pub due: String,
    pub created: String,
    pub accounts: String,
}
