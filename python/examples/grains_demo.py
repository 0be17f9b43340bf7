"""A bank account as a virtual actor whose state and reminder outlive the program.

    python grains_demo.py /tmp/bank.db      # run it twice

Each run deposits 10 into alice's account (a zactor.Grain kept in SQLite)
and prints the balance: 10, then 20, ... The first run also sets up a
reminder ("interest", every second); it is stored with the account, so the
next run receives it once at start, saying how many ticks were missed while
the program was not running, and pays interest for them.
"""
import os
import sys
import threading

import zactor


class Account(zactor.Grain):
    grain_type = "demo.Account"  # the stable storage name of this class
    idle_timeout = 60.0

    async def on_activate(self):
        self.state.setdefault("balance", 0)
        self.state.setdefault("interest_paid", 0)

    async def receive(self, msg):
        if isinstance(msg, zactor.Reminder):  # a reminder tick
            ticks = 1 + msg.missed
            self.state["interest_paid"] += ticks
            await self.save()
            print(f"reminder {msg.name!r}: {msg.missed} missed while down, interest x{ticks}",
                  flush=True)
            got_reminder.set()
            return None
        op, *args = msg
        if op == "deposit":
            self.state["balance"] += args[0]
            await self.save()  # write-if-version: returns once durable
        elif op == "remind":
            await self.remind("interest", period=1.0, due=1.0)
        return dict(self.state)


got_reminder = threading.Event()


def main(path):
    with zactor.System(storage=f"sqlite://{os.path.abspath(path)}") as system:
        alice = system.grain(Account, "alice")
        state = alice.ask(("deposit", 10))
        print(f"balance {state['balance']}", flush=True)
        if state["balance"] == 10:  # the first run
            alice.ask(("remind",))
            print("reminder set", flush=True)
        else:
            # a reminder that fell due while we were down fires once now
            print("reminder received" if got_reminder.wait(15.0) else "no reminder", flush=True)
        for g in system.grains():
            print(f"active: {g.type} {g.key} since {g.since:%H:%M:%S}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bank.db")
