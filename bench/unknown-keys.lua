-- wrk script of scripts/bench's case c: a different well-formed unknown key on every request,
-- so that each costs keygate a KV read (an isolate remembers a missing key for 10 s, and a
-- repeated one is case i). The keys come from a file, one per line (bench/report.py
-- unknown-key --count N); each thread starts at a random place in it.
--
--   wrk … -s bench/unknown-keys.lua URL -- KEYS_FILE
local keys = {}
local at = 0

function init(args)
  for line in io.lines(args[1]) do
    keys[#keys + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  at = math.random(#keys)
end

function request()
  at = at % #keys + 1
  wrk.headers["Authorization"] = "Bearer " .. keys[at]
  return wrk.format()
end
