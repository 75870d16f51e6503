"""Read TensorFlow checkpoints (the V2 "tensor bundle" format) without TensorFlow.

A checkpoint with prefix ``P`` is two kinds of file:

- ``P.index`` — an SSTable (LevelDB's immutable sorted table) mapping each variable
  name to a ``BundleEntryProto`` (dtype, shape, which data shard, byte offset, byte
  size, masked CRC32C of the bytes). The empty key holds a ``BundleHeaderProto``
  (number of shards, endianness).
- ``P.data-00000-of-0000N`` — the raw tensor bytes, C order, back to back.

Both layouts are small and stable, so they are parsed here by hand: this keeps
TensorFlow (and protobuf code generation) out of the project just to load a few
megabytes of weights. Only what tensor bundles use is implemented: uncompressed
table blocks and whole (unpartitioned) numeric tensors.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CheckpointFormatError", "TFCheckpoint", "TensorEntry", "crc32c", "masked_crc32c"]

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48  # two BlockHandles (varints, padded to 40 bytes) + 8-byte magic
_BLOCK_TRAILER_LEN = 5  # 1-byte compression type + 4-byte CRC32C after every block
_NO_COMPRESSION = 0

# tensorflow/core/framework/types.proto DataType -> numpy dtype (little-endian).
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}


class CheckpointFormatError(ValueError):
    """The files are not a checkpoint this reader understands (or are damaged)."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives: ``dtype`` code, ``shape``, and its bytes in a shard."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked CRC32C of the raw bytes, as TensorFlow stores it
    sliced: bool  # a partitioned variable; its bytes live under other keys

    @property
    def numpy_dtype(self) -> np.dtype:
        try:
            return _DTYPES[self.dtype]
        except KeyError:
            raise CheckpointFormatError(
                f"{self.name}: unsupported TensorFlow dtype code {self.dtype}"
            ) from None


# ---------------------------------------------------------------------------
# Protocol-buffer wire format: just enough to decode the bundle protos.


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointFormatError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointFormatError("varint too long")


def _fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)``; value is int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            (value,) = struct.unpack_from("<Q", buf, pos)
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos : pos + length]
            if len(value) != length:
                raise CheckpointFormatError("truncated length-delimited field")
            pos += length
        elif wire == 5:
            (value,) = struct.unpack_from("<I", buf, pos)
            pos += 4
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _int64(value: int) -> int:
    # Negative int64 values are sent as 10-byte two's-complement varints.
    return value - (1 << 64) if value >= 1 << 63 else value


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims: list[int] = []
    for number, _, value in _fields(buf):
        if number == 2:  # repeated Dim dim
            size = 0
            for dim_number, _, dim_value in _fields(value):
                if dim_number == 1:
                    size = _int64(dim_value)
            dims.append(size)
        elif number == 3 and value:  # unknown_rank
            raise CheckpointFormatError("tensor with unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    fields = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "crc32c": 0}
    sliced = False
    for number, _, value in _fields(buf):
        if number == 1:
            fields["dtype"] = value
        elif number == 2:
            fields["shape"] = _parse_shape(value)
        elif number == 3:
            fields["shard_id"] = value
        elif number == 4:
            fields["offset"] = _int64(value)
        elif number == 5:
            fields["size"] = _int64(value)
        elif number == 6:
            fields["crc32c"] = value
        elif number == 7:
            sliced = True
    return TensorEntry(name=name, sliced=sliced, **fields)


# ---------------------------------------------------------------------------
# SSTable (LevelDB table format).


def _block_handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if end + _BLOCK_TRAILER_LEN > len(table):
        raise CheckpointFormatError("block runs past the end of the index file")
    compression = table[end]
    if compression != _NO_COMPRESSION:
        # TensorFlow writes bundle indexes uncompressed; anything else is not a bundle.
        raise CheckpointFormatError(f"compressed table block (type {compression})")
    return table[offset:end]


def _block_entries(block: bytes):
    """Yield ``(key, value)`` from one block; keys are prefix-compressed."""
    if len(block) < 4:
        raise CheckpointFormatError("block too short")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 * (num_restarts + 1)
    if limit < 0:
        raise CheckpointFormatError("bad restart count in block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        yield key, block[pos : pos + value_len]
        pos += value_len


def _table_items(table: bytes):
    if len(table) < _FOOTER_LEN:
        raise CheckpointFormatError("index file too short")
    footer = table[-_FOOTER_LEN:]
    (magic,) = struct.unpack_from("<Q", footer, _FOOTER_LEN - 8)
    if magic != _TABLE_MAGIC:
        raise CheckpointFormatError("not an SSTable (bad magic number)")
    _, _, pos = _block_handle(footer, 0)  # metaindex: unused by tensor bundles
    index_offset, index_size, _ = _block_handle(footer, pos)
    for _, handle in _block_entries(_read_block(table, index_offset, index_size)):
        offset, size, _ = _block_handle(handle, 0)
        yield from _block_entries(_read_block(table, offset, size))


# ---------------------------------------------------------------------------
# CRC32C (Castagnoli), for optional verification of tensor bytes.


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C of ``data`` (pure Python: ~1 s per few MB, so verification is opt-in)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked form LevelDB/TensorFlow store (a CRC of data containing CRCs is weak)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------------------


class TFCheckpoint:
    """A TensorFlow V2 checkpoint opened for reading.

    ``prefix`` is what ``tf.train.Saver.save`` was given: files ``<prefix>.index``
    and ``<prefix>.data-*``. A directory is accepted for checkpoints saved with a
    prefix ending in ``/`` (files named ``.index`` and ``.data-*`` inside it).

    >>> ckpt = TFCheckpoint("some/dir/")          # doctest: +SKIP
    >>> ckpt.shapes()["dense/kernel"]             # doctest: +SKIP
    (400, 200)
    >>> ckpt["dense/kernel"].dtype                # doctest: +SKIP
    dtype('float32')
    """

    def __init__(self, prefix: str | Path):
        prefix = Path(prefix)
        if prefix.is_dir():
            self._dir, stem = prefix, ""
        else:
            self._dir, stem = prefix.parent, prefix.name
        index_path = self._dir / f"{stem}.index"
        if not index_path.is_file():
            raise FileNotFoundError(f"no TensorFlow checkpoint index at {index_path}")
        self._stem = stem
        self.index_path = index_path

        table = index_path.read_bytes()
        self.num_shards = 1
        big_endian = False
        entries: dict[str, TensorEntry] = {}
        for key, value in _table_items(table):
            if key == b"":  # BundleHeaderProto
                for number, _, field in _fields(value):
                    if number == 1:
                        self.num_shards = field
                    elif number == 2:
                        big_endian = field == 1
                continue
            name = key.decode("utf-8")
            entries[name] = _parse_entry(name, value)
        if big_endian:
            raise CheckpointFormatError("big-endian checkpoints are not supported")
        self.entries = entries

    def _shard_path(self, shard_id: int) -> Path:
        return self._dir / f"{self._stem}.data-{shard_id:05d}-of-{self.num_shards:05d}"

    def names(self) -> list[str]:
        """Variable names, sorted (the table's order)."""
        return sorted(self.entries)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """``{name: shape}`` for every variable, without reading any tensor bytes."""
        return {name: entry.shape for name, entry in self.entries.items()}

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.read(name)

    def read(self, name: str, *, verify: bool = False) -> np.ndarray:
        """The tensor ``name`` as a new numpy array of its stored dtype and shape.

        ``verify=True`` checks the bytes against the stored CRC32C (slow in pure Python).
        """
        try:
            entry = self.entries[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in the checkpoint {self.index_path}") from None
        if entry.sliced:
            raise CheckpointFormatError(f"{name}: partitioned variables are not supported")
        dtype = entry.numpy_dtype
        count = int(np.prod(entry.shape, dtype=np.int64))
        if count * dtype.itemsize != entry.size:
            raise CheckpointFormatError(
                f"{name}: {entry.size} bytes stored for shape {entry.shape} of {dtype}"
            )
        with open(self._shard_path(entry.shard_id), "rb") as f:
            f.seek(entry.offset)
            data = f.read(entry.size)
        if len(data) != entry.size:
            raise CheckpointFormatError(f"{name}: data file is truncated")
        if verify and masked_crc32c(data) != entry.crc32c:
            raise CheckpointFormatError(f"{name}: checksum mismatch (damaged data file?)")
        return np.frombuffer(data, dtype=dtype).reshape(entry.shape).copy()
