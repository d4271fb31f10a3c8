-- wrk script: each connection waits a random pause (mean WRK_CONNECTIONS / WRK_RATE seconds)
-- after each response, so the connections together offer about WRK_RATE requests a second and
-- two servers can be compared at the same offered load rather than each at its own maximum.
local pause = tonumber(os.getenv("WRK_CONNECTIONS")) * 1000 / tonumber(os.getenv("WRK_RATE"))

function delay()
  return math.random(0, math.floor(2 * pause))
end
