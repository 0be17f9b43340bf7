-- A Lua member of the cluster demo (make demo-cluster): joins the cluster,
-- serves a word-count actor named "wc@<node_name>", runs until its stdin
-- closes (or it is killed).
--   lua5.4 lua/examples/cluster_node.lua <redis-url> <cluster> <node-name>
package.cpath = "./lua/?.so;" .. package.cpath
local zactor = require "zactor"
local url, cluster, name = ...

local COUNTER = [[
return {
  receive = function(ctx, msg)
    local counts = {}
    for w in msg[2]:lower():gmatch("%a+") do counts[w] = (counts[w] or 0) + 1 end
    return counts
  end,
}]]

local system <close> = zactor.system{ workers = 2,
  cluster = { redis = url, name = cluster, node_name = name } }
system:spawn(COUNTER, { name = "wc@" .. name })
io.write("READY ", system:node().id, "\n")
io.flush()
io.read("a") -- until the demo closes our stdin
