"""Builders of hostile input files: decompression bombs (PNG, multi-page TIFF, .nii.gz), a 2 GB sparse
DICOM, DICOM headers with multi-valued size tags. Each is small on disk and quick to make."""

from __future__ import annotations

import copy
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file


def ct_small() -> Path:
    return Path(get_testdata_file("CT_small.dcm"))


def png_bomb(path: Path, width: int, height: int, *, colour: bool = False) -> Path:
    """A real PNG of zeros: ``width x height`` pixels (8-bit grey or RGB), zlib-compressed (~1000:1)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + width * (3 if colour else 1))      # filter byte 0 + zero pixels
    rows_per_block = max(1, (1 << 22) // len(row))
    block = row * rows_per_block
    n_blocks, rest = divmod(height, rows_per_block)
    # raw deflate: after a full flush the compressor forgets its history, so every further
    # block of zeros compresses to the same bytes; compute them once and repeat them
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.compress(row * rest) + comp.flush()
    adler = 1
    for _ in range(n_blocks):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * rest, adler)
    idat = b"\x78\xda" + repeated * n_blocks + tail + struct.pack(">I", adler & 0xFFFFFFFF)
    parts = [idat]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if colour else 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
                     + chunk(b"IEND", b""))
    return path


def tiff_bomb(path: Path, width: int, height: int, pages: int) -> Path:
    """A multi-page 8-bit TIFF whose ``pages`` pages all point at one deflate-compressed strip of zeros.

    On disk: one strip plus 12 bytes per tag per page; decoded: width x height x pages bytes.
    """
    strip = zlib.compress(b"\x00" * (width * height), 9)
    strip_offset = 8
    first_ifd = strip_offset + len(strip) + (len(strip) & 1)
    header = b"II*\x00" + struct.pack("<I", first_ifd)
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, strip_offset),
            (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    ifd_size = 2 + 12 * len(tags) + 4
    out = bytearray(header + strip + b"\x00" * (len(strip) & 1))
    for page in range(pages):
        offset = first_ifd + page * ifd_size
        nxt = offset + ifd_size if page + 1 < pages else 0
        out += struct.pack("<H", len(tags))
        for tag, kind, value in tags:
            packed = struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3
                                                          else struct.pack("<I", value))
            out += packed
        out += struct.pack("<I", nxt)
    path.write_bytes(bytes(out))
    return path


def nifti_bomb(path: Path, shape=(2048, 2048, 256), zeros_bytes: int = 16 << 20) -> Path:
    """A .nii.gz whose header declares a float32 volume of ``shape`` (4 GiB by default)
    followed by ``zeros_bytes`` of gzip'd zeros (the file is a few tens of kB)."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.float32)
    hdr["vox_offset"] = 352
    raw = hdr.binaryblock + b"\x00" * 4
    comp = gzip.compress(raw + b"\x00" * zeros_bytes, compresslevel=9)
    path.write_bytes(comp)
    return path


def sparse_dicom(path: Path, *, rows: int = 32768, columns: int = 32768) -> Path:
    """A DICOM whose 16-bit pixel data is ``rows x columns`` (2 GiB by default), stored as a sparse file.

    The header is CT_small's (uncompressed, Explicit VR Little Endian); the pixel bytes are a hole
    in the file, so it takes no disk space but its size and declared geometry are real.
    """
    ds = pydicom.dcmread(ct_small())
    del ds.PixelData
    ds.Rows, ds.Columns = rows, columns
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    n = rows * columns * 2
    with open(path, "ab") as fh:
        fh.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, n))
        fh.truncate(fh.tell() + n)
    return path


def multivalued_dicom(path: Path, keyword: str, value) -> Path:
    """CT_small with one size tag (Rows, SamplesPerPixel, ...) holding several values."""
    ds = pydicom.dcmread(ct_small())
    setattr(ds, keyword, value)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def copy_dicom(path: Path, *, sop: str | None = None, truncate: int = 0) -> Path:
    """CT_small under a new name (optionally with a given SOP Instance UID, optionally cut short)."""
    ds = copy.deepcopy(pydicom.dcmread(ct_small()))
    if sop:
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.save_as(path, enforce_file_format=True)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[:len(data) - truncate])
    return path
