-- The sweep for wrk (BENCH_LOAD_GENERATOR=wrk, bench/index.ts): every path of the file named by
-- WRK_PATHS once, in order, over wrk's connections; stops when all have answered. A connection
-- that asks after the last path asks for the health check instead (not counted). Prints "answered
-- all" when the last path has answered, and at the end "sweep <answered> <not 200>", for the
-- benchmark to check.
-- Globals, so that done() can read the counts through thread:get().
paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
total = #paths
sent, answered, failed = 0, 0, 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")

request = function()
  -- wrk 4.1 asks once when a thread starts and discards the answer: that call gets the health
  -- check, so no path is lost (and if it is sent after all, it is not counted).
  if not primed then
    primed = true
    return wrk.format("GET", "/api/v2/monitor/health")
  end
  sent = sent + 1
  if sent > total then return wrk.format("GET", "/api/v2/monitor/health") end
  return wrk.format("GET", paths[sent])
end

response = function(status, headers, body)
  -- The health check's answers (sent after the last path) are not the sweep's.
  if body:sub(1, 15) == '{"metadatabase"' then return end
  answered = answered + 1
  if status ~= 200 then failed = failed + 1 end
  if answered == total then
    -- wrk's own clock runs to its -d duration whatever its threads do: the benchmark interrupts
    -- it (SIGINT, after which wrk prints its summary and runs done()) when it reads this line.
    io.write("answered all\n")
    io.flush()
    wrk.thread:stop()
  end
end

local threads = {}
setup = function(thread) threads[#threads + 1] = thread end

done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("sweep %d %d\n", thread:get("answered"), thread:get("failed")))
  end
end
