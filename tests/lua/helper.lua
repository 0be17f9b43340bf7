-- Loaded by busted before the specs (see .busted): find the freshly built
-- module (lua/zactor.so) and the test behaviours (tests/lua/actors/).
local root = os.getenv("ZACTOR_ROOT") or "."
package.cpath = root .. "/lua/?.so;" .. package.cpath
package.path = root .. "/tests/lua/actors/?.lua;" .. root .. "/tests/lua/?.lua;" .. package.path
