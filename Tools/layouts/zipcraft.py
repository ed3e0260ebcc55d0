"""Small ZIP writers for crafting `.pth` test archives (stored entries only).

`write_zip64(path, entries)` writes every entry with ZIP64 extra fields and saturated 32-bit sizes
and offsets, plus the ZIP64 end records, as a > 4 GiB `torch.save` file would have them.
`entries` is a list of (name, bytes). Python's zipfile and torch.load both read the result.
"""

import struct
import zlib

ALIGN = 64  # torch aligns every member's data to 64 bytes


def read_entries(path):
    """(name, bytes) of every member of a ZIP archive, in central-directory order."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip64(path, entries):
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        name_b = name.encode("utf-8")
        crc = zlib.crc32(data) & 0xFFFFFFFF
        offset = len(out)
        zip64 = struct.pack("<HHQQ", 0x0001, 16, len(data), len(data))
        header_len = 30 + len(name_b) + len(zip64)
        pad = (-(offset + header_len + 4)) % ALIGN
        padding = struct.pack("<HH", 0x4346, pad) + b"Z" * pad  # an unknown tag, skipped by readers
        extra = zip64 + padding
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0x800, 0, 0, 0x21, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(name_b), len(extra))
        out += name_b + extra
        assert len(out) % ALIGN == 0
        out += data
        cextra = struct.pack("<HHQQQ", 0x0001, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0x800, 0, 0, 0x21, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(name_b), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF)
        central += name_b + cextra
    cd_offset = len(out)
    out += central
    zip64_end = len(out)
    n = len(entries)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(out)


def write_stored(path, entries, compress=None):
    """A plain ZIP of stored (or, with compress=zipfile.ZIP_DEFLATED, compressed) entries; names are
    written exactly as given, `../` included."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=compress or zipfile.ZIP_STORED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = compress or zipfile.ZIP_STORED
            z.writestr(info, data)


def patch_central_size(path, name, new_size):
    """Rewrites both 32-bit sizes of entry `name` in the central directory (a size that lies)."""
    data = bytearray(open(path, "rb").read())
    name_b = name.encode()
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + n] == name_b:
            struct.pack_into("<II", data, pos + 20, new_size, new_size)
            break
        pos += 4
    open(path, "wb").write(bytes(data))
