-- wrk script: POSTs a form body with a unique id per request, and counts answers by status.
-- The body template comes from the environment (WRK_BODY), with {id} replaced by a unique id
-- (thread number and counter), e.g.
--   WRK_BODY='login=demo&password=demo1234&phone_number=447700900001&sender=DEMO&message=hi&message_id={id}&receipt=FALSE'
--   wrk -t2 -c50 -d10s -s scripts/wrk/unique-post.lua http://127.0.0.1:8080/httpapi/receiver
-- WRK_METHOD=GET sends the same fields as a query string instead (Kannel's sendsms).
local threads = {}
local run = tostring(os.time())

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  ok = 0
  refused = 0
  template = os.getenv("WRK_BODY") or error("set WRK_BODY")
  method = os.getenv("WRK_METHOD") or "POST"
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
  counter = counter + 1
  local id = run .. "-" .. thread_id .. "-" .. counter
  local body = template:gsub("{id}", id)
  if method == "GET" then
    return wrk.format("GET", wrk.path .. "?" .. body)
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_refused = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_refused = total_refused + thread:get("refused")
  end
  io.write(string.format("answers: %d 2xx, %d other\n", total_ok, total_refused))
  io.write(string.format("latency: p50 %.2f ms p99 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
