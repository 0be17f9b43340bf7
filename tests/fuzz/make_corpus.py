#!/usr/bin/env python3
"""Write the seed corpora under tests/fuzz/corpus/ (run from anywhere;
stdlib only, so it needs no zactor build). The files are committed: rerun
this only to change the seeds. Each file is one input; names say what it is.

MessagePack seeds (value_decode, lua_decode, py_unpack): every type at every
width, nested containers, the actor-reference ext type (ZA_MP_EXT_REF = 1,
8 bytes big-endian: node(8) | generation(24) | slot(32)), and edge cases:
huge declared lengths, deep nesting on both sides of the 32-level limit,
truncated values, trailing bytes, invalid bytes, other ext types.
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def ref(node=0, gen=1, slot=7):
    return b"\xd7\x01" + struct.pack(">Q", (node << 56) | (gen << 32) | slot)


MSGPACK = {
    # scalars
    "nil": b"\xc0", "false": b"\xc2", "true": b"\xc3",
    "posfixint": b"\x7f", "negfixint": b"\xe0", "zero": b"\x00",
    "uint8": b"\xcc\xff", "uint16": b"\xcd\xff\xff", "uint32": b"\xce\xff\xff\xff\xff",
    "uint64_max": b"\xcf" + b"\xff" * 8, "uint64_int64max": b"\xcf\x7f" + b"\xff" * 7,
    "int8": b"\xd0\x80", "int16": b"\xd1\x80\x00", "int32": b"\xd2\x80\x00\x00\x00",
    "int64_min": b"\xd3\x80" + b"\x00" * 7,
    "float32": b"\xca" + struct.pack(">f", 1.5), "float64": b"\xcb" + struct.pack(">d", -2.25),
    "float64_nan": b"\xcb\x7f\xf8" + b"\x00" * 6, "float64_negzero": b"\xcb\x80" + b"\x00" * 7,
    "float64_inf": b"\xcb" + struct.pack(">d", float("inf")),
    "float32_nan": b"\xca\x7f\xc0\x00\x00",
    # strings and bytes
    "fixstr": b"\xa3abc", "fixstr_empty": b"\xa0", "str8": b"\xd9\x05hello",
    "str16": b"\xda\x00\x03\xc3\xa9!", "str32": b"\xdb\x00\x00\x00\x02hi",
    "str_invalid_utf8": b"\xa2\xff\xfe", "str_nul": b"\xa3a\x00b",
    "bin8": b"\xc4\x03\x00\x01\x02", "bin16": b"\xc5\x00\x01\xff", "bin32": b"\xc6\x00\x00\x00\x00",
    # containers
    "fixarray": b"\x93\x01\xa1x\xc0", "array_empty": b"\x90", "array16": b"\xdc\x00\x02\xc2\xc3",
    "array32": b"\xdd\x00\x00\x00\x01\x05",
    "fixmap": b"\x82\xa1a\x01\xa1b\x92\x02\x03", "map_empty": b"\x80",
    "map16": b"\xde\x00\x01\x01\xa3one", "map32": b"\xdf\x00\x00\x00\x01\xc3\xc2",
    "map_nil_key": b"\x82\xc0\x01\xa1k\x02",
    "map_nan_key": b"\x81\xcb\x7f\xf8" + b"\x00" * 6 + b"\x01",
    "map_dup_keys": b"\x82\x01\xa1a\x01\xa1b",
    "map_array_key": b"\x81\x92\x01\x02\xa1v",
    "map_float_int_key": b"\x82\xcb" + struct.pack(">d", 1.0) + b"\xa1f\x01\xa1i",
    "map_seq_keys": b"\x83\x01\xa1a\x02\xa1b\x03\xa1c",
    "nested_mixed": b"\x82\xa4list\x93\x01\x92\xa1x\xc3\x81\xa1k\xc0\xa3ref" + ref(),
    # actor references (ext type 1, 8 bytes) and other ext
    "ref_fixext8": ref(), "ref_node": ref(node=3, gen=0xABCDEF, slot=0xFFFFFFFF),
    "ref_ext8": b"\xc7\x08\x01" + struct.pack(">Q", 0x0000000100000002),
    "ref_in_array": b"\x92" + ref() + ref(gen=2),
    "ext_wrong_size": b"\xd6\x01\x00\x00\x00\x01",
    "ext_other_type": b"\xd7\x02" + b"\x00" * 8, "ext_negative_type": b"\xd4\xff\x00",
    "ext16": b"\xc8\x00\x08\x01" + b"\x00" * 7 + b"\x01",
    "ext32_huge": b"\xc9\xff\xff\xff\xff\x01",
    # huge declared lengths
    "str32_huge": b"\xdb\xff\xff\xff\xff", "bin32_huge": b"\xc6\xff\xff\xff\xff\x00",
    "array32_huge": b"\xdd\xff\xff\xff\xff", "map32_huge": b"\xdf\xff\xff\xff\xff\x01",
    "array16_huge": b"\xdc\xff\xff\x01", "array32_256M": b"\xdd\x10\x00\x00\x00\xc0",
    # nesting around the 32-level limit
    "deep_array_31": b"\x91" * 31 + b"\x01", "deep_array_32": b"\x91" * 32 + b"\x01",
    "deep_array_33": b"\x91" * 33 + b"\x01",
    "deep_array_32_empty": b"\x91" * 32 + b"\x90",
    "deep_map_32": b"\x81\x01" * 32 + b"\x01", "deep_map_33": b"\x81\x01" * 33 + b"\x01",
    "deep_array_200": b"\x91" * 200 + b"\xc0",
    # truncated, trailing, invalid
    "empty": b"", "truncated_uint32": b"\xce\x00\x01", "truncated_str": b"\xa5ab",
    "truncated_array": b"\x92\x01", "truncated_map": b"\x82\x01\x02\x03",
    "truncated_ref": b"\xd7\x01\x00\x00", "trailing": b"\x01\x02", "trailing_nil": b"\xc0\xc0",
    "invalid_c1": b"\xc1", "invalid_in_array": b"\x92\x01\xc1",
    # a str that is not UTF-8 (fuzz lua_decode: came back as zactor.bytes)
    "str_invalid_utf8": b"\xa2\xff\xfe",
}

# lua_opts: Lua expressions (the target runs `return <input>`).
LUA_OPTS = {
    "empty_table": b"{}",
    "all_options": (b'{name="worker", capacity=100, max_restarts=5, within_ms=1000, '
                    b'backoff_min_ms=10, backoff_max_ms=500, block_timeout_ms=50, '
                    b'memory_limit=1048576, budget_ms=200, open_io_os=true, '
                    b'restart="transient", strategy="one_for_all", full_policy="block"}'),
    "restart_values": b'{restart="temporary"}',
    "strategies": b'{strategy="escalate", restart="permanent"}',
    "full_policy": b'{full_policy="drop_oldest", capacity=1}',
    "bad_option": b'{restart="sometimes"}',
    "unknown_key": b'{nme="x"}',
    # an option next to a key that is no near miss: an init argument, not
    # options with an unknown key and no suggestion (fuzz finding)
    "known_and_unrelated_key": b'{strategfull_policyy="escalate", restart="permanent"}',
    "number_as_name": b"{name=42}",
    "string_as_int": b'{capacity="12"}',
    "float_capacity": b"{capacity=1.5}",
    "negative": b"{capacity=-1, memory_limit=-1, budget_ms=-9223372036854775807}",
    "huge_int": b"{max_restarts=9223372036854775807}",
    "nan": b"{within_ms=0/0}",
    "inf": b"{within_ms=1/0}",
    "array_part": b'{1, 2, name="a"}',
    "table_value": b"{name={}}",
    "nested_key": b"{[{}]=1}",
    "integer_key": b"{[1]=true}",
    "bool_key": b"{[true]=1}",
    "func_value": b"{name=function() end}",
    "computed": b'{name=("a".."b"), capacity=2^10//1}',
    "nul_in_key": b'{["name\\0x"]="y"}',
    "long_name": b'{name="' + b"n" * 300 + b'"}',
    "not_a_table": b'"name"',
    "loop": b"(function() while true do end end)()",
}


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    for t in ("value_decode", "lua_decode", "py_unpack"):
        write(t, MSGPACK)
    write("lua_opts", LUA_OPTS)
    # py_lua_echo's inputs are FuzzedDataProvider bytes, not MessagePack:
    # a few byte patterns that steer it to each kind of value and nesting.
    write("py_lua_echo", {
        "zeros": b"\x00" * 64, "ones": b"\x01" * 64, "ramp": bytes(range(256)),
        "ff": b"\xff" * 64, "mixed": bytes((i * 37) & 0xff for i in range(200)),
    })


if __name__ == "__main__":
    main()
