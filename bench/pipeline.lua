-- wrk script for bench/http: sends `depth` requests (default 16) in one write and
-- waits for all their responses before the next batch (TechEmpower's pipeline.lua).
--   wrk -c 50 -d 5s -s bench/pipeline.lua http://127.0.0.1:8080/ -- 16
-- wrk counts every response, so Requests/sec counts pipelined requests, not batches.

init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
