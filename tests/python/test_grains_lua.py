"""Lua grains (virtual actors) meet Python (issue 13): a Python actor asks a
Lua grain, a Lua grain asks a Python actor, and a grain reference travels
between the two languages like any reference."""
import os

import pytest

import zactor
from conftest import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ACCOUNT = os.path.join(ROOT, "tests", "lua", "actors", "g_account.lua")

# A Lua actor handing out grain references (ctx:grain registers the class).
GRAINS = "return { receive = function(ctx, msg) return ctx:grain(msg[1], msg[2]) end }"


class Teller(zactor.Actor):
    """Asks the grain it is given, from inside its receive."""

    async def receive(self, msg):
        grain, amount = msg
        return await grain.ask_async(("deposit", amount), timeout=5.0)


def test_python_and_lua_grain_call_each_other(tmp_path):
    with zactor.System(workers=2, storage=f"sqlite://{tmp_path}/g.db") as system:
        acct = system.spawn_lua(GRAINS).ask([ACCOUNT, "py"], timeout=5.0)
        # the main thread and a Python actor ask the Lua grain
        assert acct.ask(("deposit", 5), timeout=5.0) == 5
        teller = system.spawn(Teller)
        assert teller.ask((acct, 3), timeout=5.0) == 8
        assert acct.ask(("key",), timeout=5.0) == "py"
        # the Lua grain asks a Python actor (its handler suspends meanwhile)
        py = system.spawn(Counter, 41)
        assert acct.ask(("ask", py, ("get",)), timeout=5.0) == 41
        if hasattr(system, "grain_lua"):  # the Python API for Lua grains
            assert system.grain_lua(ACCOUNT, "py") == acct
        # a bad key is a clear error in the Lua actor that asked for it
        with pytest.raises(zactor.ActorFailed, match="bad key"):
            system.spawn_lua(GRAINS).ask([ACCOUNT, ""], timeout=5.0)


COUNTER = os.path.join(ROOT, "tests", "lua", "actors", "p_counter.lua")


def test_persistent_lua_actor_from_python(tmp_path):
    url = f"sqlite://{tmp_path}/p.db"
    with zactor.System(workers=2, storage=url) as system:
        c = system.spawn_lua(COUNTER, 5, persistence_id="pc")
        assert c.ask("inc", timeout=5.0) == 1  # the stored version
        assert c.ask("get", timeout=5.0) == {"n": 6, "inits": 1}
        with pytest.raises(TypeError, match="persistence_id must be a str"):
            system.spawn_lua(COUNTER, persistence_id=3)
        with pytest.raises(ValueError, match="persistence_id must be 1..1024 bytes"):
            system.spawn_lua(COUNTER, persistence_id="")
    with zactor.System(workers=2, storage=url) as system:  # the program runs again
        c = system.spawn_lua(COUNTER, 5, persistence_id="pc")
        assert c.ask("get", timeout=5.0) == {"n": 6, "inits": 2}
