%% The Savina workloads on plain Erlang processes (spawn, !, receive).
%%
%% Invocation (see bench/savina/README.md for the contract):
%%   erl -noshell +S N:N +P 5000000 -pa build/savina/erlang \
%%       -run savina main <workload> key=value ...
%% or simply bench/savina/erlang/savina <workload> key=value ...
%%
%% Prints exactly one JSON line on stdout and halts: status 0 when the
%% answer was verified, 1 when it was wrong, 2 on bad arguments or a crash.
-module(savina).
-export([main/1]).
-export([theta/0]).                     % called remotely, see perform/1

-define(RUNTIME, "erlang").

%% Workloads, their keys and the Savina defaults, in output order.
defaults("pingpong") -> [{n, 40000}];
defaults("counting") -> [{n, 1000000}];
defaults("fjthrput") -> [{a, 60}, {n, 10000}];
defaults("fjcreate") -> [{n, 40000}];
defaults("threadring") -> [{n, 100}, {r, 100000}];
defaults("chameneos") -> [{c, 100}, {n, 200000}];
defaults("big") -> [{w, 120}, {n, 20000}];
defaults("skynet") -> [{leaves, 1000000}];
defaults(_) -> undefined.

%% ---------------------------------------------------------------------------
%% Entry point

main([Workload | Args]) ->
    case defaults(Workload) of
        undefined ->
            fail("unknown workload ~s", [Workload]);
        Defaults ->
            Params = parse_args(Args, Defaults),
            check(Workload, Params),
            run(Workload, Params)
    end;
main([]) ->
    fail("usage: savina <workload> key=value ...", []).

parse_args([], Params) ->
    Params;
parse_args([Arg | Rest], Params) ->
    case string:split(Arg, "=") of
        [K, V] ->
            Key = list_to_atom(K),
            case lists:keymember(Key, 1, Params) of
                true ->
                    case catch list_to_integer(V) of
                        I when is_integer(I), I >= 0 ->
                            parse_args(Rest, lists:keystore(Key, 1, Params, {Key, I}));
                        _ ->
                            fail("bad value for ~s: ~s", [K, V])
                    end;
                false ->
                    fail("unknown key ~s", [K])
            end;
        _ ->
            fail("expected key=value, got ~s", [Arg])
    end.

%% Sizes the workloads cannot be built with at all (they would hang or crash).
check("threadring", [{n, N}, _]) when N < 1 -> fail("threadring: n must be >= 1", []);
check("chameneos", [{c, C}, _]) when C < 2 -> fail("chameneos: c must be >= 2", []);
check("big", [{w, W}, _]) when W < 1 -> fail("big: w must be >= 1", []);
check("skynet", [{leaves, L}]) ->
    case is_power_of_10(L) of
        true -> ok;
        false -> fail("skynet: leaves must be a power of 10, got ~b", [L])
    end;
check(_, _) -> ok.

%% The workload runs in its own process so that a crash anywhere in it (its
%% actors are linked to it where that is cheap) ends the run with an error
%% instead of leaving the node hanging.
run(Workload, Params) ->
    Main = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Main ! {self(), timed(Workload, Params)} end),
    receive
        {Pid, {Supported, Seconds, Result, Expected}} ->
            erlang:demonitor(Ref, [flush]),
            report(Workload, Params, Supported, Seconds, Result, Expected);
        {'DOWN', Ref, process, Pid, Reason} ->
            fail("~s crashed: ~p", [Workload, Reason])
    end.

timed(Workload, Params) ->
    case unsupported(Workload, Params) of
        false ->
            T0 = erlang:monotonic_time(),
            {Result, Expected} = workload(Workload, maps:from_list(Params)),
            T1 = erlang:monotonic_time(),
            Seconds = erlang:convert_time_unit(T1 - T0, native, nanosecond) / 1.0e9,
            {true, Seconds, Result, Expected};
        Why ->
            {Why, 0, 0, 0}
    end.

%% skynet can have up to leaves * 1.11 processes alive at once (run queues
%% are FIFO, so a whole level of the tree tends to exist before it runs); say
%% so instead of dying with system_limit when +P is too small.
unsupported("skynet", [{leaves, L}]) ->
    Limit = erlang:system_info(process_limit),
    case L + L div 9 + 100 > Limit of
        true -> io_lib:format("process limit ~b too small for ~b leaves (raise +P)", [Limit, L]);
        false -> false
    end;
unsupported(_, _) ->
    false.

workload("pingpong", #{n := N}) -> pingpong(N);
workload("counting", #{n := N}) -> counting(N);
workload("fjthrput", #{a := A, n := N}) -> fjthrput(A, N);
workload("fjcreate", #{n := N}) -> fjcreate(N);
workload("threadring", #{n := N, r := R}) -> threadring(N, R);
workload("chameneos", #{c := C, n := N}) -> chameneos(C, N);
workload("big", #{w := W, n := N}) -> big(W, N);
workload("skynet", #{leaves := L}) -> skynet(L).

%% ---------------------------------------------------------------------------
%% Output

report(Workload, Params, true, Seconds, Result, Expected) ->
    Ok = Result =:= Expected,
    emit(io_lib:format(
           "{\"workload\": \"~s\", \"runtime\": \"~s\", \"params\": ~s, "
           "\"seconds\": ~.6f, \"ok\": ~s, \"result\": ~b, \"expected\": ~b}",
           [Workload, ?RUNTIME, json_params(Params), Seconds, Ok, Result, Expected])),
    case Ok of
        true -> erlang:halt(0);
        false -> erlang:halt(1)
    end;
report(Workload, Params, Why, _, _, _) ->
    emit(io_lib:format(
           "{\"workload\": \"~s\", \"runtime\": \"~s\", \"params\": ~s, "
           "\"ok\": false, \"unsupported\": \"~s\"}",
           [Workload, ?RUNTIME, json_params(Params), Why])),
    erlang:halt(0).

json_params(Params) ->
    ["{", lists:join(", ", [io_lib:format("\"~s\": ~b", [K, V]) || {K, V} <- Params]), "}"].

emit(Line) ->
    io:put_chars([Line, $\n]).

fail(Fmt, Args) ->
    io:format(standard_error, "savina: " ++ Fmt ++ "~n", Args),
    erlang:halt(2).

%% Savina's performComputation: the result is checked, as in Savina, so the
%% call cannot be dropped.  Theta is fetched with a remote call, ?MODULE:theta(),
%% which the compiler cannot see through; with a local call it proves theta is
%% always 37.2 and folds the whole computation into a constant.
perform(Theta) ->
    S = math:sin(Theta),
    R = S * S,
    case R > 0.0 of
        true -> R;
        false -> error({bad_computation, R})
    end.

theta() -> 37.2.

%% ---------------------------------------------------------------------------
%% pingpong: n round trips between ping and pong.

pingpong(N) ->
    Self = self(),
    Pong = spawn_link(fun pong/0),
    spawn_link(fun() -> ping(Self, Pong, self(), N, 0) end),
    receive {pongs, Got} -> {Got, N} end.

ping(Main, Pong, _Self, 0, Got) ->
    Pong ! stop,
    Main ! {pongs, Got};
ping(Main, Pong, Self, Left, Got) ->
    Pong ! {ping, Self},
    receive pong -> ping(Main, Pong, Self, Left - 1, Got + 1) end.

pong() ->
    receive
        {ping, From} -> From ! pong, pong();
        stop -> ok
    end.

%% ---------------------------------------------------------------------------
%% counting: a producer sends n increments, then asks the counter for its total.

counting(N) ->
    Self = self(),
    Counter = spawn_opt(fun() -> counter(0) end, [link, {message_queue_data, off_heap}]),
    spawn_link(fun() -> produce(Self, Counter, N) end),
    receive {total, Total} -> {Total, N} end.

produce(Main, Counter, 0) ->
    Counter ! {get, self()},
    receive {count, C} -> Main ! {total, C} end;
produce(Main, Counter, Left) ->
    Counter ! inc,
    produce(Main, Counter, Left - 1).

counter(C) ->
    receive
        inc -> counter(C + 1);
        {get, From} -> From ! {count, C}
    end.

%% ---------------------------------------------------------------------------
%% fjthrput: n messages to each of a workers, round robin; each costs one
%% performComputation; each worker reports once it has handled n.

fjthrput(A, N) ->
    Self = self(),
    Theta = ?MODULE:theta(),
    %% The sender outruns the workers, so their queues grow long; off_heap
    %% keeps each worker's garbage collections from rescanning its queue.
    Workers = [spawn_opt(fun() -> fj_worker(Self, Theta, N, 0) end,
                         [link, {message_queue_data, off_heap}])
               || _ <- lists:seq(1, A)],
    fj_send(Workers, N),
    {fj_collect(A, 0), A * N}.

%% One round sends one message to every worker, in order: message i goes to
%% worker i mod a.
fj_send(_Workers, 0) -> ok;
fj_send(Workers, Rounds) ->
    fj_round(Workers),
    fj_send(Workers, Rounds - 1).

fj_round([]) -> ok;
fj_round([W | Ws]) -> W ! work, fj_round(Ws).

fj_worker(Main, _Theta, N, N) ->
    Main ! {handled, N};
fj_worker(Main, Theta, N, Done) ->
    receive work -> perform(Theta) end,
    fj_worker(Main, Theta, N, Done + 1).

fj_collect(0, Sum) -> Sum;
fj_collect(Left, Sum) ->
    receive {handled, K} -> fj_collect(Left - 1, Sum + K) end.

%% ---------------------------------------------------------------------------
%% fjcreate: n short-lived actors, one message each.  Plain spawn (no link):
%% linking 40000 short-lived processes is not what Savina measures.

fjcreate(N) ->
    %% Reports pile up while we are still spawning, and spawning makes garbage
    %% (the closures); with the queue off the heap a collection does not
    %% rescan it (0.3 s instead of 0.04 s at n=40000 on one scheduler).
    process_flag(message_queue_data, off_heap),
    Self = self(),
    Theta = ?MODULE:theta(),
    fj_create(Self, Theta, N),
    {fj_reports(N, 0), N}.

fj_create(_Main, _Theta, 0) -> ok;
fj_create(Main, Theta, Left) ->
    Pid = spawn(fun() -> receive go -> perform(Theta), Main ! done end end),
    Pid ! go,
    fj_create(Main, Theta, Left - 1).

fj_reports(0, Got) -> Got;
fj_reports(Left, Got) ->
    receive done -> fj_reports(Left - 1, Got + 1) end.

%% ---------------------------------------------------------------------------
%% threadring: a token with counter r goes around n actors, one decrement per
%% hop.  The actor that sees 0 sends a stop around the ring that sums the hops
%% each actor made, and reports the total.

threadring(N, R) ->
    Self = self(),
    First = spawn_link(fun() -> receive {next, Next} -> ring(Self, Next, 0) end end),
    Last = ring_spawn(Self, First, N - 1),
    First ! {next, Last},
    First ! {token, R},
    receive {hops, Hops} -> {Hops, R} end.

%% Each new actor points at the previous one; the first closes the ring.
ring_spawn(_Main, Next, 0) -> Next;
ring_spawn(Main, Next, Left) ->
    Pid = spawn_link(fun() -> ring(Main, Next, 0) end),
    ring_spawn(Main, Pid, Left - 1).

ring(Main, Next, Hops) ->
    receive
        {token, 0} ->
            Next ! {stop, Hops},
            receive {stop, Total} -> Main ! {hops, Total} end;
        {token, T} ->
            Next ! {token, T - 1},
            ring(Main, Next, Hops + 1);
        {stop, Sum} ->
            Next ! {stop, Sum + Hops}
    end.

%% ---------------------------------------------------------------------------
%% chameneos: c creatures ask the mall to meet; the mall pairs them (at most
%% one waits) until n meetings have happened, then answers every request with
%% stop and sums the creatures' meeting counts.

chameneos(C, N) ->
    Self = self(),
    Mall = spawn_link(fun() -> mall(Self, C, N, none, 0) end),
    Colours = {red, yellow, blue},
    [spawn_link(fun() -> creature_start(Mall, element(I rem 3 + 1, Colours)) end)
     || I <- lists:seq(0, C - 1)],
    receive {meetings, Sum} -> {Sum, 2 * N} end.

%% Meetings left: pair the requester with the waiting creature, if any, by
%% forwarding the request to it.
mall(Main, C, 0, none, Sum) ->
    mall_drain(Main, C, 0, Sum);
mall(Main, C, N, none, Sum) ->
    receive {meet, _, _} = Req -> mall(Main, C, N, Req, Sum) end;
mall(Main, C, N, {meet, Waiting, _}, Sum) ->
    receive {meet, _, _} = Req -> Waiting ! Req end,
    mall(Main, C, N - 1, none, Sum).

%% No meetings left: stop every creature and add up their counts.
mall_drain(Main, C, C, Sum) ->
    Main ! {meetings, Sum};
mall_drain(Main, C, Faded, Sum) ->
    receive
        {meet, From, _} -> From ! stop, mall_drain(Main, C, Faded, Sum);
        {count, M} -> mall_drain(Main, C, Faded + 1, Sum + M)
    end.

creature_start(Mall, Colour) ->
    Self = self(),
    Mall ! {meet, Self, Colour},
    creature(Mall, Self, Colour, 0).

creature(Mall, Self, Colour, Meetings) ->
    receive
        {meet, Other, OtherColour} ->
            %% We were waiting: compute the new colour and tell the other.
            New = complement(Colour, OtherColour),
            Other ! {change, New},
            Mall ! {meet, Self, New},
            creature(Mall, Self, New, Meetings + 1);
        {change, New} ->
            Mall ! {meet, Self, New},
            creature(Mall, Self, New, Meetings + 1);
        stop ->
            Mall ! {count, Meetings}
    end.

complement(C, C) -> C;
complement(red, yellow) -> blue;
complement(red, blue) -> yellow;
complement(yellow, red) -> blue;
complement(yellow, blue) -> red;
complement(blue, red) -> yellow;
complement(blue, yellow) -> red.

%% ---------------------------------------------------------------------------
%% big: w actors; each pings a pseudo-random other actor, waits for the pong,
%% pings again, until it has had n pongs, and answers pings all along.

big(W, N) ->
    Self = self(),
    Pids = [spawn_link(fun() -> receive {peers, P} -> big_start(Self, P, W, Id, N) end end)
            || Id <- lists:seq(0, W - 1)],
    Peers = list_to_tuple(Pids),
    [P ! {peers, Peers} || P <- Pids],
    Total = big_collect(W, 0),
    [P ! stop || P <- Pids],
    {Total, W * N}.

big_collect(0, Sum) -> Sum;
big_collect(Left, Sum) ->
    receive {pongs, K} -> big_collect(Left - 1, Sum + K) end.

big_start(Main, Peers, W, Id, N) ->
    Self = self(),
    Rng = Id + 1,                       % xorshift32 state must be non-zero
    case N of
        0 ->
            Main ! {pongs, 0},
            big_loop(Main, Peers, W, Id, Self, Rng, 0, 0);
        _ ->
            Rng1 = big_ping(Peers, W, Id, Self, Rng),
            big_loop(Main, Peers, W, Id, Self, Rng1, 0, N)
    end.

big_loop(Main, Peers, W, Id, Self, Rng, Pongs, N) ->
    receive
        {ping, From} ->
            From ! pong,
            big_loop(Main, Peers, W, Id, Self, Rng, Pongs, N);
        pong when Pongs + 1 =:= N ->
            Main ! {pongs, Pongs + 1},
            big_loop(Main, Peers, W, Id, Self, Rng, N, N);
        pong ->
            Rng1 = big_ping(Peers, W, Id, Self, Rng),
            big_loop(Main, Peers, W, Id, Self, Rng1, Pongs + 1, N);
        stop ->
            ok
    end.

%% Ping a random actor other than ourselves; returns the next generator state.
big_ping(Peers, W, Id, Self, Rng) ->
    Next = xorshift32(Rng),
    Target = case W of
                 1 -> Id;
                 _ ->
                     T = Next rem (W - 1),
                     if T >= Id -> T + 1; true -> T end
             end,
    element(Target + 1, Peers) ! {ping, Self},
    Next.

xorshift32(X0) ->
    X1 = X0 bxor ((X0 bsl 13) band 16#FFFFFFFF),
    X2 = X1 bxor (X1 bsr 17),
    X2 bxor ((X2 bsl 5) band 16#FFFFFFFF).

%% ---------------------------------------------------------------------------
%% skynet: a tree of actors, 10 children per node, `leaves` leaves; leaf i
%% answers i, every parent answers the sum of its children.  Plain spawn: the
%% usual skynet in Erlang, and a million links would only add cost.

skynet(Leaves) ->
    Self = self(),
    spawn(fun() -> sky_node(Self, 0, Leaves) end),
    Sum = receive S -> S end,
    {Sum, Leaves * (Leaves - 1) div 2}.

sky_node(Parent, Num, 1) ->
    Parent ! Num;
sky_node(Parent, Num, Size) ->
    Self = self(),
    Sub = Size div 10,
    sky_spawn(Self, Num, Sub, 10),
    Parent ! sky_sum(10, 0).

sky_spawn(_Self, _Num, _Sub, 0) -> ok;
sky_spawn(Self, Num, Sub, K) ->
    spawn(fun() -> sky_node(Self, Num, Sub) end),
    sky_spawn(Self, Num + Sub, Sub, K - 1).

sky_sum(0, Sum) -> Sum;
sky_sum(K, Sum) ->
    receive S -> sky_sum(K - 1, Sum + S) end.

is_power_of_10(1) -> true;
is_power_of_10(L) when L >= 10, L rem 10 =:= 0 -> is_power_of_10(L div 10);
is_power_of_10(_) -> false.
