"""A minimal writer of Gatan DigitalMicrograph files (``.dm3``, ``.dm4``), for tests that need no network.

Only what a reader needs for one calibrated image or spectrum is written:
the tag tree ``ImageList/<unnamed>/{ImageData, ImageTags, Name}``. The layout
below follows the public notes on the format (Boothroyd's and Jefferis'
descriptions of DM3, and the DM4 differences), checked byte by byte against
RosettaSciIO's own test files ``test-1.dm3`` and ``test-1.dm4``.

File
    header, big-endian: ``uint32`` version (3 or 4); the length ``L`` of the
    file minus 16 (DM3, ``uint32``) or minus 24 (DM4, ``uint64``); ``uint32``
    byte order of the tag values (1: little-endian). Then the root tag group,
    then 8 zero bytes.
Tag group
    ``uint8`` sorted, ``uint8`` open, number of entries (``uint32`` in DM3,
    ``uint64`` in DM4), the entries.
Entry
    ``uint8`` kind (20: tag group, 21: tag), ``uint16`` length of the name
    (big-endian), the name (unnamed entries have length 0; readers number
    them ``TagGroup0``, ``Data0``...). DM4 then has the ``uint64`` byte length
    of the rest of the entry. A group continues with its tag group; a tag with
    ``b"%%%%"``, the number ``n`` of its info words, ``n`` words (all
    big-endian ``uint32`` in DM3, ``uint64`` in DM4) and the value, in the
    byte order of the header.
Info words
    a simple value: ``[type]``; an array of simple values: ``[20, type, count]``.
    Types: 2 int16, 3 int32, 4 uint16, 5 uint32, 6 float32, 7 float64,
    8 bool, 9 int8, 10 uint8, 11 int64, 12 uint64. Text is stored as an
    array of uint16 (UTF-16 code units), as DigitalMicrograph stores it.
Image
    ``ImageData.Data`` the values in C order of the array, the axes listed
    fastest first (X, Y, Z) in ``ImageData.Dimensions`` and in
    ``ImageData.Calibrations.Dimension`` (``Origin``, ``Scale``, ``Units``:
    the axis value of channel ``i`` is ``(i - Origin) * Scale``, so
    ``offset = -Origin * Scale``), ``ImageData.DataType`` the image type
    code (2 float32, 6 uint8, 7 int32, 10 uint16, 12 float64...).

Examples
--------
>>> import numpy as np
>>> write_dm("s.dm3", np.zeros(8, "float32"), [dict(scale=0.5, offset=100.0, units="eV")],
...          image_tags={"Meta Data": {"Signal": "EELS"}})
>>> import os, struct
>>> version, length, little = struct.unpack(">III", open("s.dm3", "rb").read(12))
>>> version, length == os.path.getsize("s.dm3") - 16, little
(3, True, 1)
"""

from __future__ import annotations

import struct

import numpy as np

# numpy dtype -> (tag element type, DigitalMicrograph image data type)
_ELEMENT = {np.dtype("int16"): (2, 1), np.dtype("float32"): (6, 2), np.dtype("uint8"): (10, 6),
            np.dtype("int32"): (3, 7), np.dtype("uint16"): (4, 10), np.dtype("uint32"): (5, 11),
            np.dtype("float64"): (7, 12)}
_SIMPLE = {2: "h", 3: "i", 4: "H", 5: "I", 6: "f", 7: "d", 8: "?", 9: "b", 10: "B", 11: "q", 12: "Q"}


class _Writer:
    def __init__(self, version: int) -> None:
        if version not in (3, 4):
            raise ValueError(f"`version` {version!r} is not a DigitalMicrograph version; expected 3 or 4")
        self.version = version
        self.word = ">I" if version == 3 else ">Q"  # counts, info words

    def _words(self, *values: int) -> bytes:
        return b"".join(struct.pack(self.word, v) for v in values)

    def _tag(self, value) -> bytes:
        """The part of a tag entry after its name (and DM4 length): ``%%%%``, info, value."""
        if isinstance(value, np.ndarray):
            etype = _ELEMENT[value.dtype][0]
            info = (20, etype, value.size)
            payload = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes()
        elif isinstance(value, str):
            units = np.frombuffer(value.encode("utf-16-le"), dtype="<u2")
            info = (20, 4, units.size)
            payload = units.tobytes()
        elif isinstance(value, (bool, np.bool_)):
            info, payload = (8,), struct.pack("<?", bool(value))
        elif isinstance(value, np.float32):
            info, payload = (6,), struct.pack("<f", value)
        elif isinstance(value, (int, np.integer)):
            info, payload = (3,), struct.pack("<i", int(value))
        elif isinstance(value, float):
            info, payload = (7,), struct.pack("<d", value)
        else:
            raise TypeError(f"cannot write a tag of type {type(value).__name__}")
        return b"%%%%" + self._words(len(info), *info) + payload

    def _entry(self, name: str, value) -> bytes:
        if isinstance(value, (dict, list)):
            kind, body = 20, self.group(value)
        else:
            kind, body = 21, self._tag(value)
        raw = name.encode("latin-1")
        head = struct.pack(">BH", kind, len(raw)) + raw
        if self.version == 4:
            head += struct.pack(">Q", len(body))
        return head + body

    def group(self, tree: dict | list) -> bytes:
        """A tag group: a dict of named entries, or a list of unnamed ones."""
        items = list(tree.items()) if isinstance(tree, dict) else [("", v) for v in tree]
        out = struct.pack(">BB", 0, 0) + self._words(len(items))
        return out + b"".join(self._entry(k, v) for k, v in items)

    def file(self, root: dict) -> bytes:
        body = self.group(root) + bytes(8)
        if self.version == 3:
            return struct.pack(">III", 3, len(body) + 12 - 16, 1) + body
        return struct.pack(">IQI", 4, len(body) + 16 - 24, 1) + body


def write_dm(path, data: np.ndarray, axes: list[dict], *, version: int = 3, title: str = "",
             image_tags: dict | None = None, brightness_units: str = "Counts") -> None:
    """Write one image or spectrum to a ``.dm3`` (``version=3``) or ``.dm4`` (``version=4``) file.

    ``axes`` lists, in the order of ``data``'s dimensions (slowest first, as
    numpy's shape), dicts with ``scale``, ``offset`` and ``units``. Scales and
    origins are written as float32, as DigitalMicrograph writes them.
    ``image_tags`` becomes the ``ImageTags`` group (e.g. ``{"Meta Data":
    {"Signal": "EELS"}}``: nested dicts are groups, str/int/float/np.float32
    tags).
    """
    data = np.asarray(data)
    if data.dtype not in _ELEMENT:
        raise ValueError(f"`data` of dtype {data.dtype} cannot be written; expected one of "
                         f"{sorted(str(d) for d in _ELEMENT)}")
    if len(axes) != data.ndim:
        raise ValueError(f"`axes` has {len(axes)} entries for data of {data.ndim} dimensions")
    fastest_first = list(zip(data.shape, axes))[::-1]
    calibrations = [{"Origin": np.float32(-a["offset"] / a["scale"]), "Scale": np.float32(a["scale"]),
                     "Units": a.get("units", "")} for _, a in fastest_first]
    image = {
        "ImageData": {
            "Calibrations": {
                "Brightness": {"Origin": np.float32(0.0), "Scale": np.float32(1.0), "Units": brightness_units},
                "Dimension": calibrations,
                "DisplayCalibratedUnits": True,
            },
            "Data": data.ravel(),
            "DataType": _ELEMENT[data.dtype][1],
            "Dimensions": [int(n) for n, _ in fastest_first],
            "PixelDepth": data.dtype.itemsize,
        },
        "ImageTags": image_tags or {},
        "Name": title,
    }
    with open(path, "wb") as f:
        f.write(_Writer(version).file({"ApplicationBounds": [0, 0, 100, 100], "ImageList": [image]}))
