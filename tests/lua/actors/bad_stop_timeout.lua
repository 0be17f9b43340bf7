-- bad_stop_timeout.lua: refused at start (stop_timeout must be seconds >= 0)
return { stop_timeout = -1, receive = function() end }
