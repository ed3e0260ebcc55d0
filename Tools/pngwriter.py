"""A small PNG encoder (zlib + struct) for test fixtures.

Colour types 0 (gray), 2 (RGB), 3 (palette), 4 (gray+alpha), 6 (RGBA); bit depths 1/2/4/8/16 where
the PNG specification allows them; PLTE and tRNS chunks; Adam7 interlacing; per-row filter choice
(fixed type 0..4, "adaptive" = minimum sum of absolute differences, or "cycle" = row r uses r % 5);
IDAT split into several chunks on request. `chunk()` and `ihdr()` are exposed to craft broken files.

    import pngwriter
    pngwriter.write_png("d.png", pixels_uint8_28x28)                       # gray 8-bit
    pngwriter.write_png("d16.png", pixels.astype(np.uint16) * 257, bit_depth=16)
"""

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ALLOWED_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}

# (x0, y0, dx, dy) of the seven Adam7 passes
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def chunk(ctype, data, crc=None):
    """One PNG chunk: length, type, data, CRC-32 over type + data (or the given crc)."""
    if isinstance(ctype, str):
        ctype = ctype.encode("ascii")
    if crc is None:
        crc = zlib.crc32(ctype + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def ihdr(width, height, bit_depth, color_type, interlace=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace))


def _pack_row(samples, bit_depth):
    """samples: 1-D integer array of one scanline's samples -> raw bytes."""
    if bit_depth == 8:
        return samples.astype(np.uint8).tobytes()
    if bit_depth == 16:
        return samples.astype(">u2").tobytes()
    per_byte = 8 // bit_depth
    n = len(samples)
    padded = np.zeros(((n + per_byte - 1) // per_byte) * per_byte, dtype=np.uint16)
    padded[:n] = samples
    padded = padded.reshape(-1, per_byte)
    out = np.zeros(len(padded), dtype=np.uint16)
    for k in range(per_byte):
        out = (out << bit_depth) | padded[:, k]
    return out.astype(np.uint8).tobytes()


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filter_row(ftype, row, prior, bpp):
    x = np.frombuffer(row, dtype=np.uint8).astype(np.int32)
    b = np.frombuffer(prior, dtype=np.uint8).astype(np.int32) if prior is not None else np.zeros_like(x)
    a = np.zeros_like(x)
    c = np.zeros_like(x)
    if len(x) > bpp:
        a[bpp:] = x[:-bpp]
        c[bpp:] = b[:-bpp]
    if ftype == 0:
        pred = np.zeros_like(x)
    elif ftype == 1:
        pred = a
    elif ftype == 2:
        pred = b
    elif ftype == 3:
        pred = (a + b) // 2
    elif ftype == 4:
        pred = _paeth(a, b, c)
    else:
        raise ValueError(f"filter type {ftype}")
    return bytes([ftype]) + ((x - pred) & 0xFF).astype(np.uint8).tobytes()


def _encode_image(samples, bit_depth, channels, filter_mode, row_counter):
    """samples: [h, w, channels] -> filtered scanlines (bytes) of one (sub)image."""
    h, w = samples.shape[:2]
    if h == 0 or w == 0:
        return b""
    bpp = max(1, (bit_depth * channels) // 8)
    out = bytearray()
    prior = None
    for y in range(h):
        raw = _pack_row(samples[y].reshape(-1), bit_depth)
        if filter_mode == "adaptive":
            cands = [_filter_row(f, raw, prior, bpp) for f in range(5)]
            line = min(cands, key=lambda s: int(np.abs(np.frombuffer(s[1:], dtype=np.int8).astype(np.int32)).sum()))
        elif filter_mode == "cycle":
            line = _filter_row(row_counter[0] % 5, raw, prior, bpp)
        else:
            line = _filter_row(int(filter_mode), raw, prior, bpp)
        row_counter[0] += 1
        out += line
        prior = raw
    return bytes(out)


def raw_scanlines(pixels, color_type, bit_depth, interlace=False, filter_mode="adaptive"):
    """The uncompressed, filtered image data that goes (zlib-compressed) into IDAT."""
    channels = CHANNELS[color_type]
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] != channels:
        raise ValueError(f"pixels shape {np.asarray(pixels).shape} does not fit colour type {color_type}")
    if a.min(initial=0) < 0 or a.max(initial=0) >= (1 << bit_depth):
        raise ValueError(f"sample values out of range for bit depth {bit_depth}")
    counter = [0]
    if not interlace:
        return _encode_image(a, bit_depth, channels, filter_mode, counter)
    out = b""
    for x0, y0, dx, dy in ADAM7:
        out += _encode_image(a[y0::dy, x0::dx], bit_depth, channels, filter_mode, counter)
    return out


def encode_png(pixels, color_type=0, bit_depth=8, palette=None, trns=None, interlace=False,
               filter_mode="adaptive", idat_chunk_size=None, level=9, extra_chunks=()):
    """Encode pixels to PNG bytes.

    pixels: [H, W] for colour types 0 and 3 (palette indices), [H, W, C] otherwise, holding sample
    values (0 .. 2**bit_depth - 1). palette: sequence of (r, g, b) 0..255 (required for type 3).
    trns: type 3: sequence of alphas per palette entry; type 0: gray sample; type 2: (r, g, b).
    extra_chunks: (type, data) pairs written before IDAT.
    """
    if color_type not in ALLOWED_DEPTHS:
        raise ValueError(f"colour type {color_type}")
    if bit_depth not in ALLOWED_DEPTHS[color_type]:
        raise ValueError(f"bit depth {bit_depth} not allowed for colour type {color_type}")
    a = np.asarray(pixels)
    h, w = a.shape[:2]
    out = bytearray(PNG_SIGNATURE)
    out += ihdr(w, h, bit_depth, color_type, 1 if interlace else 0)
    if color_type == 3:
        if palette is None or not 1 <= len(palette) <= (1 << bit_depth):
            raise ValueError("colour type 3 needs a palette of 1 .. 2**bit_depth entries")
        out += chunk(b"PLTE", bytes(int(v) for rgb in palette for v in rgb))
    elif palette is not None:
        out += chunk(b"PLTE", bytes(int(v) for rgb in palette for v in rgb))
    if trns is not None:
        if color_type == 3:
            data = bytes(int(v) for v in trns)
        elif color_type == 0:
            data = struct.pack(">H", int(trns))
        elif color_type == 2:
            data = struct.pack(">HHH", *(int(v) for v in trns))
        else:
            raise ValueError("tRNS is not allowed with an alpha channel")
        out += chunk(b"tRNS", data)
    for ctype, data in extra_chunks:
        out += chunk(ctype, data)
    z = zlib.compress(raw_scanlines(a, color_type, bit_depth, interlace, filter_mode), level)
    step = idat_chunk_size or max(1, len(z))
    for s in range(0, len(z), step):
        out += chunk(b"IDAT", z[s:s + step])
    out += chunk(b"IEND", b"")
    return bytes(out)


def write_png(path, pixels, **kwargs):
    data = encode_png(pixels, **kwargs)
    with open(path, "wb") as f:
        f.write(data)
    return data


def iter_chunks(data):
    """Yield (offset, length, type, data, crc) for each chunk of PNG bytes (for crafting bad files)."""
    if data[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG")
    p = 8
    while p + 12 <= len(data):
        n, = struct.unpack(">I", data[p:p + 4])
        ctype = data[p + 4:p + 8]
        body = data[p + 8:p + 8 + n]
        crc, = struct.unpack(">I", data[p + 8 + n:p + 12 + n])
        yield p, n, ctype, body, crc
        p += 12 + n
