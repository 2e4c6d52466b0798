-- scorecard.lua - wrk script of `make bench`: each request reads the
-- scorecard of a contact drawn at random from the loaded population.
--
--   wrk ... -s bench/scorecard.lua URL -- CONTACTS API_KEY
--
-- Contact ids are "c-0" .. "c-(CONTACTS-1)", as bench/load.c names them.

local threads_started = 0

-- runs once per thread in the main Lua state; gives each thread its own
-- seed, since every thread has a Lua state of its own
function setup(thread)
	threads_started = threads_started + 1
	thread:set("seed", os.time() * 100 + threads_started)
end

local contacts = 1
local headers = {}

function init(args)
	contacts = tonumber(args[1]) or 1
	headers["Authorization"] = "Bearer " .. (args[2] or "")
	math.randomseed(seed or os.time())
end

function request()
	local id = math.random(0, contacts - 1)
	return wrk.format("GET", "/v1/contacts/c-" .. id .. "/scorecard",
		headers)
end
