"""Write small HDF5 files that exercise the parts of the format a pure-Swift reader must handle.

    python3 Tools/make_hdf5_variants.py

Run from anywhere (paths are relative to this script) with the pinned h5py/numpy of
Tools/requirements.txt. It deletes and recreates Fixtures/hdf5/ (and nothing else), writes the files
below plus `expected.json` (what h5py/libhdf5 reads back from each file, the independent reference)
and `README.md`, then re-opens every file and checks it against expected.json, failing loudly on any
difference. Everything is deterministic: fixed values (no random generator, no transcendental
functions), `track_times=False` on every dataset (and no times on groups), so a rerun gives
byte-identical files.

Files:

- `v0_contiguous.h5`: libver earliest (superblock 0, object header v1, symbol-table groups with a
  v1 B-tree + local heap). Contiguous datasets at the root: float32 (3,4), float64 (5,), float16 (2,3)
  with a subnormal, inf and -inf, float32 with NaN, int8/16/32/64, uint8/16/32/64 (extreme values of
  each type, 64-bit ones within +-2^53), big-endian '>f4' (2,2) and '>i8' (3,), a scalar float32
  (shape ()), an empty (0,3) float32 (no storage allocated), a 4-D float32 (2,3,2,2); nested groups
  `g/a`, `g/sub/b`; a soft link `soft -> /g/a` at the root and a dangling external link
  `external/ext -> other.h5:/x`, both of which readers must skip ("links_skipped"). The external link
  sits in its own group `external` because libhdf5 converts any group that receives an external link
  from a symbol table to link messages (at the root, with 22 links, that would be dense storage);
  `external` is therefore the one group in the superblock-0 files with a link message (compact).
- `v0_chunked.h5`: libver earliest, chunked datasets with v1 B-tree chunk indexes: gzip level 4
  (7,13) in (3,5) chunks (partial edge chunks); shuffle+gzip float32 (10,10) in (4,4); fletcher32
  float32 (6,) in (4,); unfiltered int64 (9,) in (2,); resizable maxshape (None,13); fill value 2.5
  with only 2 of 9 chunks written (the rest reads as 2.5); a contiguous dataset with fill value -1
  that was never written (no storage; reads as -1); 5000 float32 in (10,) chunks (500 chunks, so the
  chunk B-tree has more than one level).
- `latest.h5`: libver latest (superblock 3, object header v2, compact link messages: fewer than 8
  links per group). Contiguous, compact layout, single-chunk index (unfiltered and gzip, the latter
  with the filtered-chunk size in the layout message), fixed-array index (20,20) in (5,5) gzip,
  implicit index (early allocation, no filters), a group `grp` with 2 datasets, 3 root attributes.
  With libhdf5 2.0 the two filtered chunked datasets get data layout message version 5 (filtered
  chunk sizes in the index stored in sizeof(length) bytes); the others get versions 3 and 4.
- `latest_dense.h5`: libver latest, 40 root datasets `w00`..`w39` (dense link storage: fractal heap +
  v2 B-tree name index), 31 root attributes `a00`..`a29` (int64, float64, vlen str) plus `long_text`
  (5000-character vlen string) (dense attribute storage), and a group `ordered` created with
  track_order=True holding 12 datasets created in non-alphabetical order (their values start with the
  creation index: 0.0, 1.0, ...).
- `attributes.h5`: libver earliest, every attribute type a Keras/PyTorch export uses: int64 scalar
  and array, int32 scalar, uint8 array, float64 scalar, float32 array, fixed-length bytes 'S10'
  scalar and 'S7' array (Keras `layer_names`), vlen UTF-8 str scalar with non-ASCII text, vlen str
  array, empty vlen str, and a bool (stored by h5py as an enum: kind "unsupported"); group `layer`
  with `weight_names` and datasets `layer/kernel:0`, `layer/bias:0`; dataset `w_dataset` with its
  own attributes.
- `userblock.h5`: userblock_size=512 (superblock at offset 512, base address field 512, addresses
  relative to it; the end-of-file address field equals the physical file size; the user block is
  filled with non-zero bytes after closing), 2 float32 datasets.
- `unsupported.h5`: libver latest; datasets a reader may refuse: `extensible` (maxshape (None,):
  extensible-array chunk index), `btree2` (maxshape (None,None): v2 B-tree chunk index), `lzf`
  (filter 32000), `compound` (compound datatype); plus a readable float32 `ok`.
- `many_keys.h5`: libver earliest, 300 float32 datasets `k000`..`k299` (symbol-table v1 B-tree with
  many symbol-table nodes and more than one level).

expected.json: {"files": {name: {"superblock_version", "datasets": {path: {"shape", "dtype",
"values"}}, "attributes": {object path ("/" for the root): {name: {"kind", "values"}}},
"links_skipped": [...], "unsupported": {path: reason}}}}. Floats (any width) are
`float(x).hex()` strings ("nan", "inf", "-inf" for non-finite), integers decimal strings, strings
JSON strings (bytes decoded as UTF-8), all flattened in C order; attributes of kind "unsupported"
have empty values. Objects without attributes are not listed under "attributes".
"""

import json
import os
import re
import shutil
import struct
import sys

import h5py
import numpy as np

TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)
OUT = os.path.join(REPO, "Fixtures", "hdf5")
SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNDEF = 0xFFFFFFFFFFFFFFFF


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------------------------------------
# Deterministic "interesting" values (pure arithmetic, identical on every machine)


def ramp(n, scale=0.375, offset=-2.5):
    """Distinct, order-revealing values: (i + offset) * scale as float64."""
    return (np.arange(n, dtype=np.float64) + offset) * scale


def scramble(n, mod=1000):
    """Pseudo-random but exactly reproducible integers in [-mod/2, mod/2): a Weyl sequence."""
    i = np.arange(n, dtype=np.int64)
    return ((i * 7919 + 104729) % mod) - mod // 2


def f32(values, shape=None):
    a = np.asarray(values, dtype=np.float64).astype(np.float32)
    return a.reshape(shape) if shape is not None else a


# ---------------------------------------------------------------------------------------------
# Encoding of values for expected.json


def enc_float(x):
    x = float(x)
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return x.hex()


def enc_array(a):
    a = np.asarray(a)
    flat = a.reshape(-1)
    if a.dtype.kind == "f":
        return [enc_float(x) for x in flat]
    if a.dtype.kind in "iu":
        return [str(int(x)) for x in flat]
    raise Fail(f"cannot encode dtype {a.dtype}")


def enc_strings(value):
    if isinstance(value, (bytes, np.bytes_)):
        return [bytes(value).decode("utf-8")]
    if isinstance(value, str):
        return [value]
    out = []
    for x in np.asarray(value, dtype=object).reshape(-1):
        out.append(x.decode("utf-8") if isinstance(x, bytes) else str(x))
    return out


# ---------------------------------------------------------------------------------------------
# What each writer intends (checked against what h5py reads back and against the raw structure)


class Intent:
    def __init__(self, name, superblock_version, superblock_offset=0):
        self.name = name
        self.superblock_version = superblock_version
        self.superblock_offset = superblock_offset
        self.datasets = {}      # path -> np.ndarray (the values written, or the fill)
        self.layouts = {}       # path -> layout tag (see layout_tag)
        self.attributes = {}    # object path -> name -> (kind, encoded values)
        self.links_skipped = []
        self.unsupported = {}   # path -> reason
        self.checks = []        # callables(h5py.File, Structure) for file-specific structure checks

    def ds(self, path, values, layout):
        self.datasets[path] = np.asarray(values)
        self.layouts[path] = layout

    def attr(self, obj, name, kind, values):
        self.attributes.setdefault(obj, {})[name] = (kind, values)

    def attr_from(self, obj, name, value):
        """Record an attribute from the value written (kind from its numpy type)."""
        a = np.asarray(value)
        if a.dtype.kind == "b":
            self.attr(obj, name, "unsupported", [])
        elif a.dtype.kind in "iu":
            self.attr(obj, name, "integers", enc_array(a))
        elif a.dtype.kind == "f":
            self.attr(obj, name, "doubles", enc_array(a))
        else:
            self.attr(obj, name, "strings", enc_strings(value))

    def unsup(self, path, reason, layout):
        self.unsupported[path] = reason
        self.layouts[path] = layout

    def expected(self):
        return {
            "superblock_version": self.superblock_version,
            "datasets": {
                p: {"shape": list(a.shape), "dtype": a.dtype.str, "values": enc_array(a)}
                for p, a in self.datasets.items()
            },
            "attributes": {
                o: {n: {"kind": k, "values": v} for n, (k, v) in attrs.items()}
                for o, attrs in self.attributes.items()
            },
            "links_skipped": sorted(self.links_skipped),
            "unsupported": dict(self.unsupported),
        }


def dataset(parent, name, data=None, **kw):
    return parent.create_dataset(name, data=data, track_times=False, **kw)


def set_attr(it, obj, node, name, value, dtype=None):
    node.attrs.create(name, value, dtype=dtype)
    it.attr_from(obj, name, value)


# ---------------------------------------------------------------------------------------------
# Writers


def write_v0_contiguous(path):
    it = Intent("v0_contiguous.h5", 0)
    with h5py.File(path, "w", libver="earliest") as f:
        def put(name, arr):
            dataset(f, name, data=arr)
            it.ds(name, arr, "contiguous")

        a = f32(ramp(12), (3, 4))
        a[0, 1] = 3.0e38          # large
        a[1, 2] = -1.0 / 3.0      # inexact fraction
        a[2, 3] = 1.0e-40         # float32 subnormal
        a[2, 0] = -0.0            # negative zero
        put("f32_2d", a)
        put("f64_1d", np.array([-1.0e300, 0.1, 5e-324, 2.0 ** 60 + 2.0 ** 8, -2.5], dtype=np.float64))
        put("f16_2d", np.array([[1.5, -0.333, 2.0 ** -24], [np.inf, -np.inf, 65504.0]], dtype=np.float16))
        put("f32_nan", f32([1.25, np.nan, -7.5, 1.0e-30]))
        put("i8", np.array([-128, -1, 0, 1, 100, 127], dtype=np.int8))
        put("i16", np.array([-32768, -300, 0, 2, 32767], dtype=np.int16))
        put("i32", np.array([[-2147483648, -70000], [123456789, 2147483647]], dtype=np.int32))
        put("i64", np.array([-(2 ** 53), -1234567890123, -1, 0, 9876543210987, 2 ** 53], dtype=np.int64))
        put("u8", np.array([0, 1, 127, 128, 200, 255], dtype=np.uint8))
        put("u16", np.array([0, 258, 32768, 65535], dtype=np.uint16))
        put("u32", np.array([0, 65536, 2147483648, 4294967295], dtype=np.uint32))
        put("u64", np.array([0, 1, 2 ** 32 + 1, 2 ** 40 + 3, 2 ** 53], dtype=np.uint64))
        put("be_f4", np.array([[1.5, -2.25], [1.0e-40, 3.0e38]], dtype=">f4"))
        put("be_i8", np.array([-(2 ** 40) - 5, 258, 2 ** 53 - 1], dtype=">i8"))
        put("scalar_f32", np.array(-12.375, dtype=np.float32))
        put("empty_f32", np.zeros((0, 3), dtype=np.float32))
        put("f32_4d", f32(ramp(24, 0.5, -11.75), (2, 3, 2, 2)))
        g = f.create_group("g")
        ga = f32(ramp(6, 1.25, -1.0), (2, 3))
        dataset(g, "a", data=ga)
        it.ds("g/a", ga, "contiguous")
        sub = g.create_group("sub")
        gb = f32(scramble(5) / 8.0)
        dataset(sub, "b", data=gb)
        it.ds("g/sub/b", gb, "contiguous")
        f["soft"] = h5py.SoftLink("/g/a")
        it.ds("soft", ga, "contiguous")
        # libhdf5 cannot keep an external link in a symbol-table group: inserting one converts the
        # group to link messages (the root, with 22 links, would become dense storage). So the
        # external link lives in its own group and the root, g and g/sub stay old-style.
        x = f.create_group("external")
        x["ext"] = h5py.ExternalLink("other.h5", "/x")
        it.links_skipped += ["external/ext"]

    def v0_groups(f, st):
        check(f["empty_f32"].id.get_storage_size() == 0, "empty_f32 has storage")
        for gpath in ("/", "g", "g/sub"):
            check(st.group_storage(gpath) == "symbol table", f"{gpath} is not a symbol-table group")
        check(st.group_storage("external") == "compact", "external: compact link storage expected")
    it.checks.append(v0_groups)
    return it


def write_v0_chunked(path):
    it = Intent("v0_chunked.h5", 0)
    with h5py.File(path, "w", libver="earliest") as f:
        a = f32(ramp(91, 0.5, -45.0), (7, 13))
        a[6, 12] = -1.0e-38
        dataset(f, "gzip", data=a, chunks=(3, 5), compression="gzip", compression_opts=4)
        it.ds("gzip", a, "btree1")

        b = f32(scramble(100) / 7.0, (10, 10))
        dataset(f, "shuffle_gzip", data=b, chunks=(4, 4), shuffle=True, compression="gzip")
        it.ds("shuffle_gzip", b, "btree1")

        c = f32([0.5, -1.5, 1.0e-45, 3.0e38, -0.0, 7.0])
        dataset(f, "fletcher32", data=c, chunks=(4,), fletcher32=True)
        it.ds("fletcher32", c, "btree1")

        d = np.array([-(2 ** 53), -2, -1, 0, 1, 2 ** 31, 2 ** 32 + 7, 10 ** 15, 2 ** 53], dtype=np.int64)
        dataset(f, "chunked_i64", data=d, chunks=(2,))
        it.ds("chunked_i64", d, "btree1")

        e = f32(ramp(65, 0.25, -32.0), (5, 13))
        dataset(f, "resizable", data=e, chunks=(2, 13), maxshape=(None, 13))
        it.ds("resizable", e, "btree1")

        fp = dataset(f, "fill_partial", shape=(6, 6), dtype="f4", chunks=(2, 2), fillvalue=2.5)
        full = np.full((6, 6), 2.5, dtype=np.float32)
        w1 = f32([[-1.0, 0.125], [100.5, -3.0e-5]])
        w2 = f32([[7.0, -7.0], [1.0e20, 0.0]])
        fp[0:2, 0:2] = w1
        fp[4:6, 2:4] = w2
        full[0:2, 0:2] = w1
        full[4:6, 2:4] = w2
        it.ds("fill_partial", full, "btree1")

        dataset(f, "fill_unwritten", shape=(4,), dtype="f4", fillvalue=-1.0)
        it.ds("fill_unwritten", np.full((4,), -1.0, dtype=np.float32), "contiguous")

        g = f32(ramp(5000, 0.5, -2500.25))
        dataset(f, "long_1d", data=g, chunks=(10,))
        it.ds("long_1d", g, "btree1")

    def chunk_checks(f, st):
        check(f["fill_partial"].id.get_num_chunks() == 2, "fill_partial should have 2 chunks")
        check(f["fill_unwritten"].id.get_storage_size() == 0, "fill_unwritten has storage")
        check(f["long_1d"].id.get_num_chunks() == 500, "long_1d chunk count")
        level = st.chunk_btree_level("long_1d")
        check(level >= 1, f"long_1d chunk B-tree has only one level ({level})")
        st.notes.append(f"long_1d chunk B-tree root level {level}")
        check(f["gzip"].compression == "gzip" and f["gzip"].compression_opts == 4, "gzip filter")
        check(f["shuffle_gzip"].shuffle and f["shuffle_gzip"].compression == "gzip", "shuffle+gzip")
        check(f["fletcher32"].fletcher32, "fletcher32 filter")
        check(f["resizable"].maxshape == (None, 13), "resizable maxshape")
    it.checks.append(chunk_checks)
    return it


def low_level_dataset(parent, name, arr, dcpl):
    dcpl.set_obj_track_times(False)
    space = h5py.h5s.create_simple(arr.shape)
    tid = h5py.h5t.py_create(arr.dtype)
    dsid = h5py.h5d.create(parent.id, name.encode(), tid, space, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(arr))
    dsid.close()


def write_latest(path):
    it = Intent("latest.h5", 3)
    with h5py.File(path, "w", libver="latest") as f:
        a = f32(ramp(9, 1.5, -4.0), (3, 3))
        a[1, 1] = 1.0e-40
        dataset(f, "contiguous", data=a)
        it.ds("contiguous", a, "contiguous")

        b = f32([-0.75, 1.0e-38, 3.0e38, 42.0])
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        low_level_dataset(f, "compact", b, dcpl)
        it.ds("compact", b, "compact")

        c = f32(scramble(16) / 16.0, (4, 4))
        dataset(f, "single_chunk", data=c, chunks=(4, 4))
        it.ds("single_chunk", c, "single")

        d = np.array(ramp(15, -0.1, -7.0), dtype=np.float64).reshape(3, 5)
        d[2, 4] = 5e-324
        dataset(f, "single_chunk_gzip", data=d, chunks=(3, 5), compression="gzip")
        it.ds("single_chunk_gzip", d, "single")

        e = f32(ramp(400, 0.125, -200.0), (20, 20))
        dataset(f, "fixed_array", data=e, chunks=(5, 5), compression="gzip")
        it.ds("fixed_array", e, "fixed")

        g = f32(ramp(24, -2.0, -12.5), (6, 4))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((2, 2))
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        low_level_dataset(f, "implicit", g, dcpl)
        it.ds("implicit", g, "implicit")

        grp = f.create_group("grp")
        x = f32([1.0, -2.0, 0.1])
        dataset(grp, "x", data=x)
        it.ds("grp/x", x, "contiguous")
        y = np.array([[-32768, 1], [2, 32767]], dtype=np.int16)
        dataset(grp, "y", data=y)
        it.ds("grp/y", y, "contiguous")

        set_attr(it, "/", f, "count", np.int64(-9007199254740992))
        set_attr(it, "/", f, "scale", np.float64(-0.1))
        set_attr(it, "/", f, "name", "latest layout fixture")

    def compact_links(f, st):
        for gpath in ("/", "grp"):
            info = st.group_storage(gpath)
            check(info == "compact", f"{gpath}: expected compact link storage, got {info}")
        check(st.attribute_storage("/") == "compact", "root attributes should be compact")
        check(f["implicit"].id.get_num_chunks() == 6, "implicit: all chunks allocated")
    it.checks.append(compact_links)
    return it


ORDERED = ["zulu", "alpha", "mike", "bravo", "yankee", "charlie", "lima", "delta", "xray", "echo",
           "kilo", "foxtrot"]


def write_latest_dense(path):
    it = Intent("latest_dense.h5", 3)
    with h5py.File(path, "w", libver="latest") as f:
        for i in range(40):
            v = f32([i * 1.5 + 0.25, -i / 3.0])
            dataset(f, f"w{i:02d}", data=v)
            it.ds(f"w{i:02d}", v, "contiguous")
        for i in range(30):
            name = f"a{i:02d}"
            if i % 3 == 0:
                set_attr(it, "/", f, name, np.int64(i * 1000003 - 15000000))
            elif i % 3 == 1:
                set_attr(it, "/", f, name, np.float64(i / 7.0 - 2.0))
            else:
                set_attr(it, "/", f, name, f"attribute {i} \u00e9")
        long_text = "".join(f"{i:04d}:capsule-{'abcdefghij'[i % 10]}|" for i in range(400))[:5000]
        set_attr(it, "/", f, "long_text", long_text)
        g = f.create_group("ordered", track_order=True)
        for i, name in enumerate(ORDERED):
            v = f32([float(i), i * -0.5 - 0.125])
            dataset(g, name, data=v)
            it.ds(f"ordered/{name}", v, "contiguous")

    def dense(f, st):
        check(st.group_storage("/") == "dense", "root links should be dense")
        check(st.attribute_storage("/") == "dense", "root attributes should be dense")
        check(st.group_storage("ordered") == "dense+creation-order", "ordered: dense with creation order")
        names = list(f["ordered"].keys())
        check(names == ORDERED, f"ordered group iterates {names}")
        st.notes.append("root link name index v2 B-tree depth %d" % st.dense_btree_depth("/"))
    it.checks.append(dense)
    return it


def write_attributes(path):
    it = Intent("attributes.h5", 0)
    with h5py.File(path, "w", libver="earliest") as f:
        set_attr(it, "/", f, "int64_scalar", np.int64(-1234567890123))
        set_attr(it, "/", f, "int64_array", np.array([-1, 0, 2 ** 53], dtype=np.int64))
        set_attr(it, "/", f, "int32_scalar", np.int32(-2147483648))
        set_attr(it, "/", f, "uint8_array", np.array([0, 127, 128, 255], dtype=np.uint8))
        set_attr(it, "/", f, "float64_scalar", np.float64(-0.1))
        set_attr(it, "/", f, "float32_array", f32([1.0e-40, -3.0e38]))
        f.attrs.create("fixed_bytes", b"capsnet", dtype="S10")
        it.attr("/", "fixed_bytes", "strings", ["capsnet"])
        set_attr(it, "/", f, "layer_names", np.array([b"conv1", b"primary", b"digit"]))
        set_attr(it, "/", f, "unicode", "gr\u00f6\u00dfe \u2014 \u5bb9\u91cf")
        set_attr(it, "/", f, "str_array", ["conv1.weight", "gr\u00f6\u00dfe", "x"])
        set_attr(it, "/", f, "empty_str", "")
        set_attr(it, "/", f, "flag", np.bool_(True))

        layer = f.create_group("layer")
        set_attr(it, "layer", layer, "weight_names", np.array([b"kernel:0", b"bias:0"]))
        k = f32(ramp(6, 0.75, -2.0), (2, 3))
        dataset(layer, "kernel:0", data=k)
        it.ds("layer/kernel:0", k, "contiguous")
        b = f32([0.5, -0.25, 1.0e-40])
        dataset(layer, "bias:0", data=b)
        it.ds("layer/bias:0", b, "contiguous")

        w = f32([[1.0, -2.0], [0.3, 4.5e10]])
        ds = dataset(f, "w_dataset", data=w)
        it.ds("w_dataset", w, "contiguous")
        set_attr(it, "w_dataset", ds, "units", "m/s")
        set_attr(it, "w_dataset", ds, "scale", np.float64(0.125))
        set_attr(it, "w_dataset", ds, "offset", np.int64(-3))
        set_attr(it, "w_dataset", ds, "shape_hint", np.array([2, 2], dtype=np.int32))
    return it


USERBLOCK = 512


def userblock_bytes():
    text = b"CapsKit HDF5 fixture: this 512-byte user block is not HDF5 data.\n"
    fill = bytes((i * 37 + 11) % 251 + 1 for i in range(USERBLOCK - len(text)))
    data = text + fill
    assert len(data) == USERBLOCK and 0 not in data and SIGNATURE not in data
    return data


def write_userblock(path):
    it = Intent("userblock.h5", 0, superblock_offset=USERBLOCK)
    with h5py.File(path, "w", libver="earliest", userblock_size=USERBLOCK) as f:
        a = f32([-1.5, 0.1, 2.0e9])
        dataset(f, "a", data=a)
        it.ds("a", a, "contiguous")
        b = f32(ramp(4, 3.0, -1.5), (2, 2))
        dataset(f, "b", data=b)
        it.ds("b", b, "contiguous")
    with open(path, "r+b") as fh:
        check(fh.read(USERBLOCK) == bytes(USERBLOCK), "user block not zero before filling")
        fh.seek(0)
        fh.write(userblock_bytes())

    def ub(f, st):
        check(f.userblock_size == USERBLOCK, "userblock_size")
        with open(f.filename, "rb") as fh:
            check(fh.read(USERBLOCK) == userblock_bytes(), "user block content")
    it.checks.append(ub)
    return it


def write_unsupported(path):
    it = Intent("unsupported.h5", 3)
    with h5py.File(path, "w", libver="latest") as f:
        dataset(f, "scaleoffset", data=f32(ramp(16), (4, 4)), chunks=(2, 2), scaleoffset=3)
        it.unsup("scaleoffset", "unsupported filter (id 6)", "fixed")
        comp = np.array([(1, 0.5), (-2, 1.5e10), (3, -0.0)], dtype=[("a", "<i4"), ("b", "<f8")])
        dataset(f, "compound", data=comp)
        it.unsup("compound", "compound datatype", "contiguous")
        ok = f32([3.5, -0.0, 1.0e-40])
        dataset(f, "ok", data=ok)
        it.ds("ok", ok, "contiguous")
    return it


LIBVERS = [("earliest", "earliest"), ("v108", "v108"), ("v110", "v110"), ("v112", "v112"),
           ("v114", "v114"), ("latest", "latest")]


def write_libver(tag):
    """The same datasets under one libver setting: every chunk index that setting produces, every
    supported filter, resizable and fixed shapes, nested groups and a few attributes."""
    low, high = dict(LIBVERS)[tag], "latest"
    new_indexes = tag not in ("earliest", "v108")

    def writer(path):
        sb = 0 if not new_indexes and tag == "earliest" else (2 if tag == "v108" else 3)
        it = Intent(f"libver_{tag}.h5", sb)
        with h5py.File(path, "w", libver=(low, high)) as f:
            def put(name, arr, layout, **kw):
                dataset(f, name, data=arr, **kw)
                it.ds(name, arr, layout)

            chunked = "btree1" if not new_indexes else None
            put("contiguous", f32(ramp(12, 0.75, -3.0), (3, 4)), "contiguous")
            put("gzip", f32(ramp(91, 0.5, -45.0), (7, 13)), chunked or "fixed", chunks=(3, 5),
                compression="gzip", compression_opts=6)
            put("shuffle_gzip_fletcher32", f32(scramble(100) / 7.0, (10, 10)), chunked or "fixed",
                chunks=(4, 4), shuffle=True, compression="gzip", fletcher32=True)
            put("lzf", f32(np.tile(ramp(8), 32)), chunked or "fixed", chunks=(64,), compression="lzf")
            # Distinct values that lzf cannot shrink: stored raw, the filter skipped in the mask.
            put("lzf_raw", f32(scramble(128, 99991) / 3.0), chunked or "fixed", chunks=(64,),
                compression="lzf")
            put("shuffle_lzf", f32(scramble(96) / 16.0, (8, 12)), chunked or "fixed", chunks=(4, 6),
                shuffle=True, compression="lzf")
            put("resizable_1d", f32(ramp(10, 1.25)), chunked or "extensible", chunks=(4,),
                maxshape=(None,))
            put("resizable_inner", f32(ramp(36, -0.5), (4, 9)), chunked or "extensible", chunks=(2, 2),
                maxshape=(4, None))
            put("resizable_gzip", f32(ramp(65, 0.25, -32.0), (5, 13)), chunked or "extensible",
                chunks=(2, 13), maxshape=(None, 13), compression="gzip")
            put("resizable_2d", f32(scramble(30) / 4.0, (5, 6)), chunked or "btree2", chunks=(2, 2),
                maxshape=(None, None))
            put("resizable_2d_lzf", np.array(scramble(42), dtype=np.int16).reshape(6, 7),
                chunked or "btree2", chunks=(3, 3), maxshape=(None, None), compression="lzf",
                shuffle=True)
            # 300 one-element chunks: the extensible array needs secondary blocks.
            if new_indexes:
                put("resizable_long", np.array(scramble(300, 255), dtype=np.int8), "extensible",
                    chunks=(1,), maxshape=(None,))
            # Partly written: unwritten chunks read as the fill value.
            part = dataset(f, "resizable_partial", shape=(6, 6), dtype="f4", chunks=(2, 2),
                           maxshape=(None, 6), fillvalue=-2.5, compression="gzip")
            full = np.full((6, 6), -2.5, dtype=np.float32)
            w = f32([[1.0, 2.0], [3.0, 4.0]])
            part[2:4, 4:6] = w
            full[2:4, 4:6] = w
            it.ds("resizable_partial", full, chunked or "extensible")
            conv1 = f.create_group("conv1")
            cw = f32(ramp(8, 0.125), (2, 1, 2, 2))
            dataset(conv1, "weight", data=cw)
            it.ds("conv1/weight", cw, "contiguous")
            deep = f.create_group("net").create_group("block")
            db = f32([0.25, -0.5])
            dataset(deep, "bias", data=db, chunks=(2,), maxshape=(None,))
            it.ds("net/block/bias", db, chunked or "extensible")
            set_attr(it, "/", f, "libver", tag)
            set_attr(it, "/", f, "epochs", np.int64(6))

        def check_version(f, st):
            check(st.sb_version == sb, f"libver {tag}: superblock {st.sb_version}, expected {sb}")
        it.checks.append(check_version)
        return it
    return writer


def write_paged(path):
    """Fixed arrays of more than 1024 entries (paged data blocks) and an unwritten page."""
    it = Intent("paged.h5", 3)
    with h5py.File(path, "w", libver="latest") as f:
        a = np.array(scramble(1100, 255), dtype=np.int8)
        dataset(f, "paged", data=a, chunks=(1,))
        it.ds("paged", a, "fixed")
        b = np.array(scramble(1100, 201), dtype=np.int16)
        dataset(f, "paged_gzip", data=b, chunks=(1,), compression="gzip")
        it.ds("paged_gzip", b, "fixed")
        # Only the second page holds a written chunk; the first page is never written.
        c = dataset(f, "second_page_only", shape=(1100,), dtype="i1", chunks=(1,), fillvalue=7)
        c[1050] = -3
        cc = np.full((1100,), 7, dtype=np.int8)
        cc[1050] = -3
        it.ds("second_page_only", cc, "fixed")

    def pages(f, st):
        check(f["second_page_only"].id.get_num_chunks() == 1, "second_page_only chunks")
    it.checks.append(pages)
    return it


def write_heap_objects(path):
    """Huge fractal-heap objects (attributes above the heap's 4 KiB managed-object limit), many
    attributes (dense storage), soft links to datasets, a dangling soft link and an external
    link. (Committed datatypes are in the Debian file: h5py cannot commit one without times.)"""
    it = Intent("heap_objects.h5", 3)
    with h5py.File(path, "w", libver="latest") as f:
        text = "".join(f"{i:05d} training log line|" for i in range(300))
        set_attr(it, "/", f, "training_log", np.bytes_(text.encode()))
        set_attr(it, "/", f, "losses", np.array(scramble(2100, 30011), dtype=np.int16))
        for i in range(24):
            set_attr(it, "/", f, f"attr{i:02d}", np.int64(i * 3 - 7))
        target = f.create_group("weights")
        tw = f32([1.5, -2.5, 0.125])
        dataset(target, "w", data=tw)
        it.ds("weights/w", tw, "contiguous")
        f["alias"] = h5py.SoftLink("/weights/w")
        it.ds("alias", tw, "contiguous")
        target["relative"] = h5py.SoftLink("w")
        it.ds("weights/relative", tw, "contiguous")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["outside"] = h5py.ExternalLink("other.h5", "/x")
        it.links_skipped += ["dangling", "outside"]

    def heap(f, st):
        check(st.attribute_storage("/") == "dense", "root attributes should be dense")
    it.checks.append(heap)
    return it


DEBIAN_C = r"""
/* Written by Tools/make_hdf5_variants.py: the same kinds of datasets through the C library of the
   system (Debian's libhdf5 1.10), with libver bounds v110, so that files from another libhdf5
   than h5py's are read too. Values are i * 0.25 - 3 (float32) unless noted. */
#include <hdf5.h>
#include <stdio.h>
static float v[4096];
static hid_t type;
static int put(hid_t loc, const char *name, int rank, const hsize_t *dims, const hsize_t *maxdims,
               const hsize_t *chunk, int gzip) {
    hid_t space = H5Screate_simple(rank, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    if (chunk) H5Pset_chunk(dcpl, rank, chunk);
    if (gzip) { H5Pset_shuffle(dcpl); H5Pset_deflate(dcpl, gzip); }
    hid_t ds = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t status = H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds); H5Pclose(dcpl); H5Sclose(space);
    return status < 0;
}
int main(int argc, char **argv) {
    for (int i = 0; i < 4096; i++) v[i] = i * 0.25f - 3.0f;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    hid_t file = H5Fcreate(argv[1], H5F_ACC_TRUNC, fcpl, fapl);
    hid_t ocpl = H5Pcreate(H5P_GROUP_CREATE), tcpl = H5Pcreate(H5P_DATATYPE_CREATE);
    H5Pset_obj_track_times(ocpl, 0);
    H5Pset_obj_track_times(tcpl, 0);
    /* A committed (shared) datatype, used by the dataset "committed" and its attribute "scale". */
    hid_t committed = H5Tcopy(H5T_IEEE_F32LE);
    H5Tcommit2(file, "float_t", committed, H5P_DEFAULT, tcpl, H5P_DEFAULT);
    type = committed;
    hsize_t d6[1] = {6};
    int shared = put(file, "committed", 1, d6, NULL, NULL, 0);
    hid_t ds = H5Dopen2(file, "committed", H5P_DEFAULT), scalar = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(ds, "scale", committed, scalar, H5P_DEFAULT, H5P_DEFAULT);
    float half = 0.5f;
    shared |= H5Awrite(attr, H5T_NATIVE_FLOAT, &half) < 0;
    H5Aclose(attr); H5Sclose(scalar); H5Dclose(ds);
    type = H5T_IEEE_F32LE;
    hsize_t d2[2] = {6, 10}, c2[2] = {4, 4}, u2[2] = {H5S_UNLIMITED, H5S_UNLIMITED},
            u1[2] = {H5S_UNLIMITED, 10}, d1[1] = {1030}, c1[1] = {1};
    int bad = shared | put(file, "contiguous", 2, d2, NULL, NULL, 0);
    bad |= put(file, "fixed_gzip", 2, d2, NULL, c2, 5);
    bad |= put(file, "extensible", 2, d2, u1, c2, 0);
    bad |= put(file, "btree2_gzip", 2, d2, u2, c2, 4);
    bad |= put(file, "paged", 1, d1, NULL, c1, 0);
    hid_t group = H5Gcreate2(file, "conv1", H5P_DEFAULT, ocpl, H5P_DEFAULT);
    bad |= put(group, "weight", 2, d2, NULL, NULL, 0);
    H5Gclose(group);
    H5Tclose(committed); H5Pclose(ocpl); H5Pclose(tcpl); H5Pclose(fcpl);
    H5Fclose(file);
    H5Pclose(fapl);
    return bad;
}
"""


def write_debian(path):
    """The file of DEBIAN_C, compiled against the system libhdf5 (skipped, with a message, when
    its headers or a C compiler are missing: the committed file stays)."""
    import subprocess
    import tempfile
    it = Intent("debian_libhdf5.h5", 3)
    v = (np.arange(4096, dtype=np.float64) * 0.25 - 3.0).astype(np.float32)
    for name, shape, layout in [("contiguous", (6, 10), "contiguous"), ("fixed_gzip", (6, 10), "fixed"),
                                ("extensible", (6, 10), "extensible"), ("btree2_gzip", (6, 10), "btree2"),
                                ("paged", (1030,), "fixed"), ("conv1/weight", (6, 10), "contiguous")]:
        it.ds(name, v[:int(np.prod(shape))].reshape(shape), layout)
    it.ds("committed", v[:6], "contiguous")
    it.attr("committed", "scale", "doubles", enc_array(np.float32(0.5)))
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "writer.c")
        with open(source, "w") as fh:
            fh.write(DEBIAN_C)
        binary = os.path.join(tmp, "writer")
        cmd = ["cc", "-O1", "-o", binary, source, "-I/usr/include/hdf5/serial",
               "-L/usr/lib/x86_64-linux-gnu/hdf5/serial", "-lhdf5"]
        subprocess.run(cmd, check=True)
        subprocess.run([binary, path], check=True)
    return it
def write_many_keys(path):
    it = Intent("many_keys.h5", 0)
    with h5py.File(path, "w", libver="earliest") as f:
        for i in range(300):
            v = f32([i + 0.5, -i / 4.0])
            dataset(f, f"k{i:03d}", data=v)
            it.ds(f"k{i:03d}", v, "contiguous")

    def tree(f, st):
        level, snods = st.symbol_table_shape("/")
        check(level >= 1, f"root symbol-table B-tree has one level ({level})")
        st.notes.append(f"root group B-tree level {level}, {snods} symbol-table nodes")
    it.checks.append(tree)
    return it


# ---------------------------------------------------------------------------------------------
# One state_dict written in the ordinary ways users write it (issue 20's table): each must import
# to the same weights. The fixtures use a micro CapsNet (state_dict keys and shapes of the
# reference layout, 28x28 input, conv1 2@9x9, 2 primary types x 2D, 4 classes x 2D, no decoder);
# `--model FILE --out DIR` writes the same ways for any state_dict (the standard model, to measure).

MODEL_WAYS = [
    ("defaults", {}),
    ("resizable", {"resizable": True}),
    ("resizable_latest", {"libver": "latest", "resizable": True}),
    ("resizable_v110", {"libver": ("v110", "v110"), "resizable": True}),
    ("resizable_all_axes_latest", {"libver": "latest", "resizable": "all"}),
    ("lzf", {"lzf": True}),
    ("gzip_shuffle_fletcher32_latest", {"libver": "latest", "gzip": True}),
    ("nested_groups", {"nested": True}),
    ("big_attribute_latest", {"libver": "latest", "big_attribute": True}),
    ("track_order_latest", {"libver": "latest", "track_order": True}),
    ("gzip_v108", {"libver": ("v108", "v108"), "gzip_only": True}),
    # Beyond the table: one-element chunks (a paged fixed array for the 1,152-element tensor) and
    # CapsKit metadata beside the big attribute (a model file's attributes are all read, so the
    # huge heap object is too). Both make the fuzzer's seeds reach that code.
    ("paged_latest", {"libver": "latest", "element_chunks": True}),
    ("metadata_big_attribute_latest", {"libver": "latest", "big_attribute": True, "metadata": True}),
]


def micro_model():
    """A micro CapsNet state_dict with values that compress (period 64), so lzf really applies."""
    shapes = [("conv1.weight", (2, 1, 9, 9)), ("conv1.bias", (2,)), ("conv2.weight", (4, 2, 9, 9)),
              ("conv2.bias", (4,)), ("digit_capsules.weight", (72, 4, 2, 2))]
    state = {}
    for n, (key, shape) in enumerate(shapes):
        i = np.arange(int(np.prod(shape)), dtype=np.int64)
        state[key] = (((i * 7919 + n * 104729) % 64 - 32) / 64.0).astype(np.float32).reshape(shape)
    return state


def big_attribute_text(size):
    line = b"epoch 0001 loss 0.012345 accuracy 0.9910 | "
    return np.bytes_((line * (size // len(line) + 1))[:size])


def write_model_way(path, state, options, big_attribute_size):
    file_kw = {}
    if "libver" in options:
        file_kw["libver"] = options["libver"]
    if options.get("track_order"):
        file_kw["track_order"] = True
    with h5py.File(path, "w", **file_kw) as f:
        if options.get("big_attribute"):
            f.attrs["training_log"] = big_attribute_text(big_attribute_size)
        if options.get("metadata"):
            f.attrs["capskit_format_version"] = np.int64(1)
        for key, value in state.items():
            parent, name = f, key
            if options.get("nested"):
                parts = key.split(".")
                parent, name = f.require_group("/".join(parts[:-1])), parts[-1]
            kw = {}
            if options.get("resizable"):
                kw["chunks"] = True
                kw["maxshape"] = ((None,) * value.ndim if options["resizable"] == "all"
                                  else (None,) + value.shape[1:])
            if options.get("lzf"):
                kw["compression"] = "lzf"
            if options.get("gzip"):
                kw.update(compression="gzip", shuffle=True, fletcher32=True)
            if options.get("gzip_only"):
                kw["compression"] = "gzip"
            if options.get("element_chunks") and value.size > 1024:
                kw["chunks"] = (1,) * value.ndim
            parent.create_dataset(name, data=value, track_times=False, **kw)


def check_model_way(path, state, options):
    """h5py reads back every tensor of `state`, bit for bit, under its key (nested: as groups)."""
    with h5py.File(path, "r") as f:
        for key, value in state.items():
            stored = f[key.replace(".", "/") if options.get("nested") else key][()]
            check(stored.dtype == value.dtype and stored.shape == value.shape, f"{path}: {key} shape/type")
            check(stored.tobytes() == value.tobytes(), f"{path}: {key} values differ")


def write_model_ways(state, out, prefix, big_attribute_size):
    names = []
    for way, options in MODEL_WAYS:
        name = f"{prefix}{way}.h5"
        write_model_way(os.path.join(out, name), state, options, big_attribute_size)
        check_model_way(os.path.join(out, name), state, options)
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------------
# Hostile models (issue 12): each must be refused quickly, in little memory, with a message that
# says what was found. Small on disk; what they claim is large.


def hostile_fill_nan(path):
    """conv2.weight declares 2^28 float32 (1 GiB) that were never written, with a NaN fill
    value; every shape is consistent (conv1 1024@9x9, conv2 1024@16x16 stride 2: a 3x3 grid of 128
    types of 8D capsules, 2 classes of 2D)."""
    with h5py.File(path, "w", libver="latest") as f:
        def zeros(name, shape):  # never written either: zeros, at no storage cost
            dataset(f, name, shape=shape, dtype="f4")
        zeros("conv1.weight", (1024, 1, 9, 9))
        zeros("conv1.bias", (1024,))
        dataset(f, "conv2.weight", shape=(1024, 1024, 16, 16), dtype="f4", fillvalue=np.nan)
        zeros("conv2.bias", (1024,))
        zeros("digit_capsules.weight", (1152, 2, 8, 2))


def hostile_gzip_nan(path, elements_log2=22):
    """The micro model with conv2.weight widened to 2^elements_log2 float32 NaN in gzip chunks
    (which compress about 1000:1, so the 1/1100 plausibility check passes); shapes consistent
    (conv1 C@9x9, conv2 4@(k x k) with C*k*k*4 = 2^n)."""
    channels = 1 << (elements_log2 - 2 - 8)  # conv2 kernel 16x16: 4 * C * 256 elements
    with h5py.File(path, "w", libver="latest") as f:
        dataset(f, "conv1.weight", shape=(channels, 1, 9, 9), dtype="f4")  # zeros, no storage
        dataset(f, "conv1.bias", shape=(channels,), dtype="f4")
        dataset(f, "conv2.weight", data=np.full((4, channels, 16, 16), np.nan, dtype=np.float32),
                chunks=(1, min(channels, 256), 16, 16), compression="gzip", compression_opts=9)
        dataset(f, "conv2.bias", data=np.zeros((4,), dtype=np.float32))
        # 20 -> 16 after conv1 (k 9 on 28 is 20; conv2 k 16 stride 2 gives a 3x3 grid), 2 types of 2D.
        dataset(f, "digit_capsules.weight", data=np.zeros((18, 2, 2, 2), dtype=np.float32))


def hostile_links(path):
    """The micro model with conv2.weight an external link and conv2.bias a dangling soft link."""
    state = micro_model()
    with h5py.File(path, "w") as f:
        for key, value in state.items():
            if key not in ("conv2.weight", "conv2.bias"):
                dataset(f, key, data=value)
        f["conv2.weight"] = h5py.ExternalLink("weights.h5", "/conv2.weight")
        f["conv2.bias"] = h5py.SoftLink("/nowhere/conv2.bias")


def hostile_deep(path):
    """The micro model's tensors three groups down (`checkpoint/model/net/conv1.weight`), beside
    a group holding one other dataset: no group is common to all, so nothing is stripped."""
    with h5py.File(path, "w") as f:
        deep = f.create_group("checkpoint/model/net")
        for key, value in micro_model().items():
            dataset(deep, key, data=value)
        dataset(f.create_group("optimizer"), "step", data=np.zeros((1,), dtype=np.float32))


HOSTILE = [
    ("hostile_fill_nan.h5", hostile_fill_nan),
    ("hostile_gzip_nan.h5", hostile_gzip_nan),
    ("hostile_links.h5", hostile_links),
    ("hostile_deep.h5", hostile_deep),
]


WRITERS = [
    ("v0_contiguous.h5", write_v0_contiguous),
    ("paged.h5", write_paged),
    ("heap_objects.h5", write_heap_objects),
    ("debian_libhdf5.h5", write_debian),
    ("v0_chunked.h5", write_v0_chunked),
    ("latest.h5", write_latest),
    ("latest_dense.h5", write_latest_dense),
    ("attributes.h5", write_attributes),
    ("userblock.h5", write_userblock),
    ("unsupported.h5", write_unsupported),
    ("many_keys.h5", write_many_keys),
] + [(f"libver_{tag}.h5", write_libver(tag)) for tag, _ in LIBVERS]


# ---------------------------------------------------------------------------------------------
# Independent look at the raw structure (superblock, object headers, layout messages): confirms
# that each file really uses the format features it is meant to cover and stores no timestamps.


class Structure:
    MSG_NAMES = {0x01: "dataspace", 0x03: "datatype", 0x05: "fill", 0x06: "link",
                 0x08: "layout", 0x0A: "group info", 0x0B: "filters", 0x0C: "attribute",
                 0x02: "link info", 0x15: "attribute info", 0x11: "symbol table"}

    def __init__(self, path, f):
        with open(path, "rb") as fh:
            self.data = fh.read()
        self.f = f
        self.notes = []
        self.versions = {}  # message name -> set of versions
        self.sb_offset = None
        for off in [0] + [512 << k for k in range(12)]:
            if off + 8 <= len(self.data) and self.data[off:off + 8] == SIGNATURE:
                self.sb_offset = off
                break
        check(self.sb_offset is not None, "no HDF5 signature")
        d = self.data
        o = self.sb_offset
        self.sb_version = d[o + 8]
        if self.sb_version in (0, 1):
            check(d[o + 13] == 8 and d[o + 14] == 8, "offset/length sizes are not 8")
            pos = o + 24 + (4 if self.sb_version == 1 else 0)
            self.base, _, self.eof, _ = struct.unpack_from("<4Q", d, pos)
        else:
            check(d[o + 9] == 8 and d[o + 10] == 8, "offset/length sizes are not 8")
            self.base, _, self.eof, _ = struct.unpack_from("<4Q", d, o + 12)
        check(self.base == self.sb_offset, f"base address {self.base} != superblock offset")
        self.headers = {}

    def u(self, fmt, rel):
        return struct.unpack_from(fmt, self.data, self.base + rel)

    def messages(self, obj):
        """[(type, version byte, body offset (absolute), size)] of the object header of obj."""
        addr = h5py.h5o.get_info(obj.id).addr
        if addr in self.headers:
            return self.headers[addr]
        d = self.data
        a = self.base + addr
        out = []
        if d[a:a + 4] == b"OHDR":
            check(d[a + 4] == 2, "object header v2 expected")
            flags = d[a + 5]
            check(not flags & 0x20, f"object header at {addr} stores times")
            p = a + 6 + (4 if flags & 0x10 else 0)
            size_len = 1 << (flags & 3)
            size0 = int.from_bytes(d[p:p + size_len], "little")
            p += size_len
            hdr = 6 if flags & 0x04 else 4
            chunks = [(p, p + size0)]
            while chunks:
                s, e = chunks.pop(0)
                while s + hdr <= e:
                    mtype = d[s]
                    msize = struct.unpack_from("<H", d, s + 1)[0]
                    body = s + hdr
                    out.append((mtype, d[body] if msize else None, body, msize))
                    if mtype == 0x10:
                        caddr, clen = struct.unpack_from("<QQ", d, body)
                        c = self.base + caddr
                        check(d[c:c + 4] == b"OCHK", "continuation block signature")
                        chunks.append((c + 4, c + clen - 4))
                    s = body + msize
        else:
            check(d[a] == 1, f"object header at {addr}: unknown version {d[a]}")
            size0 = struct.unpack_from("<I", d, a + 8)[0]
            chunks = [(a + 16, a + 16 + size0)]
            while chunks:
                s, e = chunks.pop(0)
                while s + 8 <= e:
                    mtype, msize = struct.unpack_from("<HH", d, s)
                    body = s + 8
                    out.append((mtype, d[body] if msize else None, body, msize))
                    if mtype == 0x10:
                        caddr, clen = struct.unpack_from("<QQ", d, body)
                        chunks.append((self.base + caddr, self.base + caddr + clen))
                    s = body + msize
        for mtype, ver, _, _ in out:
            check(mtype not in (0x0E, 0x12), f"object header at {addr} has a modification time")
            name = self.MSG_NAMES.get(mtype)
            if name and ver is not None:
                v = ver >> 4 if mtype == 0x03 else ver
                if mtype != 0x11:
                    self.versions.setdefault(name, set()).add(v)
        self.versions.setdefault("object header", set()).add(2 if d[a:a + 4] == b"OHDR" else 1)
        self.headers[addr] = out
        return out

    def message(self, obj, mtype):
        found = [m for m in self.messages(obj) if m[0] == mtype]
        return found[0] if found else None

    def layout_tag(self, ds):
        _, ver, b, _ = self.message(ds, 0x08)
        d = self.data
        cls = d[b + 1]
        if cls == 0:
            return "compact"
        if cls == 1:
            return "contiguous"
        check(cls == 2, f"layout class {cls}")
        if ver == 3:
            return "btree1"
        check(ver in (4, 5), f"layout message version {ver}")
        ndims = d[b + 3]
        enc = d[b + 4]
        idx = d[b + 5 + ndims * enc]
        return {1: "single", 2: "implicit", 3: "fixed", 4: "extensible", 5: "btree2"}.get(idx, f"index{idx}")

    def chunk_btree_level(self, path):
        ds = self.f[path]
        _, ver, b, _ = self.message(ds, 0x08)
        check(ver == 3 and self.data[b + 1] == 2, "v1 chunk B-tree layout expected")
        addr = struct.unpack_from("<Q", self.data, b + 3)[0]
        node = self.base + addr
        check(self.data[node:node + 4] == b"TREE" and self.data[node + 4] == 1, "chunk B-tree node")
        return self.data[node + 5]

    def symbol_table_shape(self, path):
        grp = self.f[path]
        _, _, b, _ = self.message(grp, 0x11)
        btree = struct.unpack_from("<Q", self.data, b)[0]

        def walk(addr):
            n = self.base + addr
            check(self.data[n:n + 4] == b"TREE" and self.data[n + 4] == 0, "group B-tree node")
            level = self.data[n + 5]
            used = struct.unpack_from("<H", self.data, n + 6)[0]
            children = [struct.unpack_from("<Q", self.data, n + 24 + 8 + i * 16)[0] for i in range(used)]
            if level == 0:
                for c in children:
                    check(self.data[self.base + c:self.base + c + 4] == b"SNOD", "symbol-table node")
                return len(children)
            return sum(walk(c) for c in children)

        root = self.base + btree
        return self.data[root + 5], walk(btree)

    def group_storage(self, path):
        grp = self.f[path]
        if self.message(grp, 0x11):
            return "symbol table"
        info = self.message(grp, 0x02)
        check(info is not None, f"{path}: no link info message")
        _, _, b, _ = info
        flags = self.data[b + 1]
        p = b + 2 + (8 if flags & 1 else 0)
        heap = struct.unpack_from("<Q", self.data, p)[0]
        links = [m for m in self.messages(grp) if m[0] == 0x06]
        if heap == UNDEF:
            return "compact" if links or len(grp) == 0 else "?"
        check(not links, f"{path}: dense group with link messages")
        return "dense+creation-order" if flags & 2 else "dense"

    def dense_btree_depth(self, path):
        _, _, b, _ = self.message(self.f[path], 0x02)
        flags = self.data[b + 1]
        p = b + 2 + (8 if flags & 1 else 0)
        bt = self.base + struct.unpack_from("<Q", self.data, p + 8)[0]
        check(self.data[bt:bt + 4] == b"BTHD", "v2 B-tree header")
        return struct.unpack_from("<H", self.data, bt + 12)[0]

    def attribute_storage(self, path):
        obj = self.f[path]
        info = self.message(obj, 0x15)
        if info is None:
            return "compact"
        _, _, b, _ = info
        flags = self.data[b + 1]
        heap = struct.unpack_from("<Q", self.data, b + 2 + (2 if flags & 1 else 0))[0]
        return "compact" if heap == UNDEF else "dense"


# ---------------------------------------------------------------------------------------------
# What h5py reads back


def superblock_version(path):
    with open(path, "rb") as fh:
        data = fh.read(1 << 14)
    for off in (0, 512, 1024, 2048, 4096, 8192):
        if data[off:off + 8] == SIGNATURE:
            return data[off + 8]
    raise Fail(f"{path}: no superblock")


def read_attributes(obj):
    out = {}
    for name in obj.attrs:
        aid = obj.attrs.get_id(name)
        cls = aid.get_type().get_class()
        value = obj.attrs[name]
        if cls == h5py.h5t.INTEGER:
            out[name] = {"kind": "integers", "values": enc_array(value)}
        elif cls == h5py.h5t.FLOAT:
            out[name] = {"kind": "doubles", "values": enc_array(value)}
        elif cls == h5py.h5t.STRING:
            out[name] = {"kind": "strings", "values": enc_strings(value)}
        else:
            out[name] = {"kind": "unsupported", "values": []}
    return out


SUPPORTED_FILTERS = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32,
                     h5py.h5z.FILTER_LZF}


def unsupported_reason(ds, layout):
    if ds.dtype.names is not None:
        return "compound datatype"
    dcpl = ds.id.get_create_plist()
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in SUPPORTED_FILTERS:
            return f"{'lzf' if code == 32000 else 'unsupported'} filter (id {code})"
    return None


def describe(path):
    """Everything expected.json records, from h5py (plus the layout tags from the raw structure)."""
    desc = {"superblock_version": superblock_version(path), "datasets": {}, "attributes": {},
            "links_skipped": [], "unsupported": {}}
    layouts = {}
    with h5py.File(path, "r") as f:
        st = Structure(path, f)

        def visit(group, prefix):
            attrs = read_attributes(group)
            if attrs:
                desc["attributes"][prefix.strip("/") or "/"] = attrs
            for name in group:
                link = group.get(name, getlink=True)
                p = prefix.lstrip("/") + name
                # Soft links to datasets are read through; other links are skipped.
                target = group.get(name) if isinstance(link, h5py.SoftLink) else None
                if not isinstance(link, h5py.HardLink) and not isinstance(target, h5py.Dataset):
                    desc["links_skipped"].append(p)
                    continue
                obj = group[name]
                if isinstance(obj, h5py.Group):
                    visit(obj, "/" + p + "/")
                    continue
                if isinstance(obj, h5py.Datatype):
                    continue  # a committed datatype: neither group nor dataset
                layouts[p] = st.layout_tag(obj)
                attrs = read_attributes(obj)
                if attrs:
                    desc["attributes"][p] = attrs
                reason = unsupported_reason(obj, layouts[p])
                if reason:
                    desc["unsupported"][p] = reason
                    continue
                a = obj[()]
                check(isinstance(a, np.ndarray) or np.isscalar(a), f"{p}: unexpected read {type(a)}")
                a = np.asarray(a, dtype=obj.dtype)
                check(a.shape == obj.shape, f"{p}: shape {a.shape} vs {obj.shape}")
                desc["datasets"][p] = {"shape": list(obj.shape), "dtype": obj.dtype.str,
                                       "values": enc_array(a)}

        visit(f, "/")
        desc["links_skipped"].sort()
    return desc, layouts, st


def compare(name, got, want):
    if got == want:
        return
    lines = [f"{name}: h5py reads back something other than intended"]
    for key in sorted(set(got) | set(want)):
        g, w = got.get(key), want.get(key)
        if g == w:
            continue
        if isinstance(g, dict) and isinstance(w, dict):
            for k in sorted(set(g) | set(w)):
                if g.get(k) != w.get(k):
                    lines.append(f"  {key}/{k}: read {str(g.get(k))[:300]}\n      want {str(w.get(k))[:300]}")
        else:
            lines.append(f"  {key}: read {g} want {w}")
    raise Fail("\n".join(lines))


# ---------------------------------------------------------------------------------------------


def readme(rows):
    what = {
        "v0_contiguous.h5": "superblock 0, v1 object headers, symbol-table groups; contiguous float16/32/64 (NaN, inf, subnormal, -0), all int/uint widths, big-endian >f4 and >i8, scalar, empty (0,3), 4-D, nested groups g/a and g/sub/b, soft link `soft` at the root and external link `external/ext` to skip (group `external` uses a link message, the only non-symbol-table group)",
        "v0_chunked.h5": "superblock 0, v1 B-tree chunk indexes: gzip with partial edge chunks, shuffle+gzip, fletcher32, unfiltered int64, resizable (None,13), fill value 2.5 with 2 of 9 chunks written, unwritten contiguous with fill -1, 500 chunks (multi-level B-tree)",
        "latest.h5": "superblock 3, v2 object headers, compact links; layouts contiguous and compact (layout message v3), single chunk (v4) and implicit with early allocation (v4), single chunk gzip and fixed array gzip (layout message v5: libhdf5 2.0 writes v5 for filtered chunked datasets under libver latest); group grp; 3 root attributes",
        "latest_dense.h5": "superblock 3, dense links (40 datasets w00..w39) and dense attributes (a00..a29 + 5000-char long_text) at the root; group `ordered` with track_order=True and 12 datasets in creation order " + ", ".join(ORDERED),
        "attributes.h5": "superblock 0; attribute types: int64/int32/uint8, float64/float32, fixed-length bytes scalar and array (Keras layer_names/weight_names), vlen UTF-8 scalar/array/empty, bool enum (unsupported); on root, group `layer` and dataset `w_dataset`",
        "userblock.h5": "512-byte user block of non-zero bytes, superblock 0 at offset 512 (base address field 512, other addresses relative to it; the end-of-file address field equals the physical file size), 2 float32 datasets",
        "unsupported.h5": "superblock 3; datasets to refuse: scale-offset filter (id 6), compound type; plus readable `ok`",
        "many_keys.h5": "superblock 0; 300 float32 datasets k000..k299 at the root (multi-level symbol-table B-tree)",
        "paged.h5": "superblock 3; fixed-array chunk indexes of 1100 entries (paged data blocks): int8 unfiltered, int16 gzip (filtered entries), and one with only a chunk in the second page written (the first page never written, fill 7)",
        "heap_objects.h5": "superblock 3; dense root attributes including two huge fractal-heap objects (a 7,200-byte string and 2,100 int16, above the heap's 4 KiB managed limit, found through the heap's v2 B-tree), soft links `alias -> /weights/w` and `weights/relative -> w` (read as datasets), a dangling soft link and an external link (skipped)",
        "debian_libhdf5.h5": "written by the system's libhdf5 (Debian 1.10) through a small C program (source in the script), libver bounds v110: contiguous, fixed array gzip+shuffle, extensible array, v2 B-tree gzip+shuffle, paged fixed array (1030 chunks), nested group conv1/weight, committed datatype `float_t` used by dataset `committed` and its attribute `scale`",
    }
    for tag, _ in LIBVERS:
        what[f"libver_{tag}.h5"] = (
            f"libver ({tag!r}, 'latest'): contiguous, gzip, shuffle+gzip+fletcher32, lzf (compressed and stored raw), shuffle+lzf, resizable 1-D / inner / gzip / partly written (and long, 300 chunks, from v110 on) "
            + ("(v1 B-tree chunk indexes)" if tag in ("earliest", "v108") else "(extensible arrays, with secondary blocks for the long one) and resizable in two dimensions (v2 B-tree chunk indexes, unfiltered and lzf)")
            + ", nested groups conv1/weight and net/block/bias, 2 attributes")
    lines = [
        "# Fixtures/hdf5: HDF5 format variants",
        "",
        "Small HDF5 files that test CapsKit's HDF5 reader against h5py/libhdf5 as the independent",
        "reference. Generated by `Tools/make_hdf5_variants.py` (do not edit by hand; the script deletes",
        "and rewrites this whole folder, this README included). Regenerate from the repository root with",
        "",
        "    python3 Tools/make_hdf5_variants.py",
        "",
        f"(h5py {h5py.__version__}, libhdf5 {h5py.version.hdf5_version}, numpy {np.__version__}; the",
        "output is deterministic). `expected.json` says what h5py reads back from each file:",
        "superblock version, every dataset (shape, numpy dtype string, values flattened in C order),",
        "every attribute by object path (\"/\" for the root) with kind integers/doubles/strings/unsupported,",
        "links that are not hard links (`links_skipped`) and datasets a reader may refuse (`unsupported`,",
        "with a reason). Floats are `float(x).hex()` strings (\"nan\", \"inf\", \"-inf\"), integers decimal",
        "strings. See the script's docstring for details.",
        "",
        "| file | bytes | covers |",
        "| --- | --- | --- |",
    ]
    for name, size in rows:
        if name.startswith("hostile_"):
            text = "hostile (issue 12): " + " ".join(dict(HOSTILE)[name].__doc__.split())
        elif name.startswith("model_"):
            way = name[len("model_"):-3]
            text = f"the micro CapsNet state_dict (in expected.json, `model_ways`) written `{way}`: " + \
                ", ".join(f"{k}={v}" for k, v in dict(MODEL_WAYS)[way].items() or [("h5py", "defaults")])
        else:
            text = what[name]
        lines.append(f"| `{name}` | {size:,} | {text} |")
    return "\n".join(lines) + "\n"


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    intents = {}
    for name, writer in WRITERS:
        intents[name] = writer(os.path.join(OUT, name))
        check(intents[name].name == name, name)

    expected = {"files": {}}
    for name, it in intents.items():
        path = os.path.join(OUT, name)
        desc, layouts, st = describe(path)
        compare(name, desc, it.expected())
        check(st.sb_offset == it.superblock_offset, f"{name}: superblock at {st.sb_offset}")
        for p, want in it.layouts.items():
            check(layouts.get(p) == want, f"{name}: {p} has layout {layouts.get(p)}, want {want}")
        check(set(layouts) == set(it.layouts), f"{name}: datasets {sorted(layouts)}")
        expected["files"][name] = desc

    json_path = os.path.join(OUT, "expected.json")
    for name, writer in HOSTILE:
        writer(os.path.join(OUT, name))
    micro = micro_model()
    expected["model_ways"] = {
        "files": write_model_ways(micro, OUT, "model_", 6000),
        "tensors": {k: {"shape": list(v.shape), "values": enc_array(v)} for k, v in micro.items()},
    }
    with open(json_path, "w", encoding="utf-8") as fh:
        # One line per dataset or attribute (their value lists are long; indenting each value
        # would triple the file).
        text = json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False)
        text = re.sub(r'\[\n\s*([^\[\]{}]*?)\n\s*\]', lambda m: "[" + re.sub(r",\n\s*", ", ", m.group(1)) + "]", text)
        fh.write(text)
        fh.write("\n")

    # Self-check: re-open every file and compare with expected.json as written.
    with open(json_path, encoding="utf-8") as fh:
        loaded = json.load(fh)
    rows = []
    total = 0
    check(sorted(loaded["files"]) == sorted(intents), "expected.json file list")
    for name, writer in HOSTILE:
        size = os.path.getsize(os.path.join(OUT, name))
        rows.append((name, size))
        total += size
        print(f"{name}: {size} bytes ({writer.__doc__.split(chr(10))[0]})")
    for (way, options), name in zip(MODEL_WAYS, loaded["model_ways"]["files"]):
        check_model_way(os.path.join(OUT, name), micro, options)
        rows.append((name, os.path.getsize(os.path.join(OUT, name))))
        total += os.path.getsize(os.path.join(OUT, name))
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes, the micro model written {way}")
    for name, it in intents.items():
        path = os.path.join(OUT, name)
        desc, layouts, st = describe(path)
        compare(name + " (vs expected.json)", desc, loaded["files"][name])
        e = loaded["files"][name]
        with h5py.File(path, "r") as f:
            st = Structure(path, f)
            for c in it.checks:
                c(f, st)
            st.messages(f)
            f.visit(lambda p: st.messages(f[p]) and None)
            if e["superblock_version"] == 0:
                groups = ["/"]
                f.visit(lambda p: groups.append(p) if isinstance(f[p], h5py.Group) else None)
                for gpath in groups:
                    if gpath != "external":
                        check(st.group_storage(gpath) == "symbol table", f"{name}: {gpath} is not old-style")
        size = os.path.getsize(path)
        total += size
        rows.append((name, size))
        nattr = sum(len(v) for v in e["attributes"].values())
        extra = f" (+{len(e['unsupported'])} unsupported)" if e["unsupported"] else ""
        print(f"{name}: {size} bytes, superblock {e['superblock_version']}, "
              f"{len(e['datasets'])} datasets{extra}, {nattr} attributes")
        if os.environ.get("HDF5_VARIANTS_VERBOSE"):
            vers = ", ".join(f"{k} {sorted(v)}" for k, v in sorted(st.versions.items()))
            print(f"    layouts: {sorted(set(layouts.values()))}; versions: {vers}; {'; '.join(st.notes)}")

    with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(readme(rows))
    total += os.path.getsize(json_path)
    check(total < 1_300_000, f"folder too large: {total} bytes")
    print(f"expected.json: {os.path.getsize(json_path)} bytes; total {total} bytes; all checks passed")


def write_big_corpus(out):
    """--corpus DIR: files too large to commit, with DIR/expected.json in the fixtures' format
    (read by HDF5ReaderTests when CAPSKIT_HDF5_CORPUS=DIR): extensible arrays whose data blocks are
    paged (more than 131,056 chunks), written in full and in part, and a fixed array of 5 pages."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "paged_extensible.h5")
    with h5py.File(path, "w", libver="latest") as f:
        n = 140_000
        dataset(f, "full", data=np.array(scramble(n, 251), dtype=np.int8), chunks=(1,), maxshape=(None,))
        part = dataset(f, "part", shape=(n,), dtype="i1", chunks=(1,), maxshape=(None,), fillvalue=-9)
        part[131_000:131_100] = np.arange(100, dtype=np.int8)
        part[139_990:] = np.full(10, 5, dtype=np.int8)
        dataset(f, "fixed_5_pages", data=np.array(scramble(5000, 127), dtype=np.int8), chunks=(1,))
    expected = {"files": {}}
    desc, layouts, _ = describe(path)
    check(layouts == {"full": "extensible", "part": "extensible", "fixed_5_pages": "fixed"}, f"{layouts}")
    expected["files"]["paged_extensible.h5"] = desc
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(expected, fh)
    print(path, os.path.getsize(path))


def main_model(argv):
    """--model FILE --out DIR: the ways of MODEL_WAYS for FILE's root datasets, with an 800 KB
    attribute, each checked with h5py; prints the files written."""
    model = argv[argv.index("--model") + 1]
    out = argv[argv.index("--out") + 1]
    os.makedirs(out, exist_ok=True)
    with h5py.File(model, "r") as f:
        state = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
    for name in write_model_ways(state, out, "", 800_000):
        print(os.path.join(out, name), os.path.getsize(os.path.join(out, name)))


if __name__ == "__main__":
    try:
        if "--hostile-gzip" in sys.argv:
            out = sys.argv[sys.argv.index("--hostile-gzip") + 1]
            hostile_gzip_nan(out, 28)
            print(out, os.path.getsize(out))
            sys.exit(0)
        if "--corpus" in sys.argv:
            write_big_corpus(sys.argv[sys.argv.index("--corpus") + 1])
            sys.exit(0)
        if "--model" in sys.argv:
            main_model(sys.argv)
            sys.exit(0)
        main()
    except Fail as exc:
        print(f"make_hdf5_variants: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
