"""Reads PyTorch checkpoints (`torch.save` files) without PyTorch and without running pickled code.

Both formats `torch.save` writes are read: the zip archive (PyTorch >= 1.6: `<name>/data.pkl` plus one
file per storage under `<name>/data/`) and the older sequential format (magic number, protocol,
system info, the object, the storage keys, then each storage's raw bytes), which is what 2020-era
releases such as the official Wav2Lip files use.

A pickle can name any importable callable and have it called. The unpickler here resolves only the
handful of names that tensor data needs (an OrderedDict, the tensor-rebuild functions and the typed
storage classes), each to a local stand-in that only builds numpy arrays; any other name makes the
load fail before anything is called.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from tflipsync.errors import InputError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_TORCH_DTYPES = {
    "float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": "bfloat16",
    "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8,
    "bool": np.bool_,
}


class UnsafeCheckpointError(InputError):
    """The checkpoint's pickle names something other than tensor data."""


class _StorageType:
    """Stand-in for `torch.FloatStorage` and friends: carries only the element type."""

    def __init__(self, dtype):
        self.dtype = dtype


class _Storage:
    """A flat typed buffer whose bytes are read on first use."""

    def __init__(self, dtype, read_bytes):
        self.dtype = dtype
        self._read_bytes = read_bytes
        self._array = None

    def array(self):
        if self._array is None:
            raw = self._read_bytes()
            if self.dtype == "bfloat16":
                # bfloat16 is the upper half of a float32.
                self._array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                self._array = np.frombuffer(raw, np.dtype(self.dtype).newbyteorder("<"))
        return self._array


class Tensor:
    """A tensor read from a checkpoint: a strided view of a storage, materialised by `numpy()`."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def numpy(self):
        flat = self.storage.array()
        if not self.shape:
            return flat[self.offset].copy()
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], self.shape, [s * itemsize for s in self.stride], writeable=False)
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_ALLOWED.update({("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()})
_ALLOWED.update({("torch", name): _StorageType(dtype) for name, dtype in _TORCH_DTYPES.items()})


class _Unpickler(pickle.Unpickler):
    """Resolves only `_ALLOWED` names; storages come from `open_storage(key, dtype, numel)`."""

    def __init__(self, file, path, open_storage):
        super().__init__(file)
        self._path = path
        self._open_storage = open_storage
        self._storages = {}

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                self._path, f"refused: the pickle names '{module}.{name}', which is not tensor data "
                "(loading it could run code)") from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise UnsafeCheckpointError(self._path, f"refused: unknown persistent object {pid[:1]!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError(self._path, "refused: a storage without a tensor type")
        if key not in self._storages:
            self._storages[key] = _Storage(storage_type.dtype, self._open_storage(key, storage_type.dtype))
        return self._storages[key]


def _itemsize(dtype):
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _load_zip(path, archive):
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
        raise InputError(path, "not a PyTorch checkpoint (a zip archive without one data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]

    def open_storage(key, dtype):
        return lambda: archive.read(f"{prefix}data/{key}")

    with archive.open(pickles[0]) as f:
        return _Unpickler(io.BytesIO(f.read()), path, open_storage).load()


def _load_legacy(path, f):
    # The header pickles hold plain ints and dicts; the restricted unpickler guards them too.
    magic, protocol, sys_info = (_Unpickler(f, path, None).load() for _ in range(3))
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
        raise InputError(path, "not a PyTorch checkpoint (unknown magic number or protocol)")
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise InputError(path, "big-endian checkpoints are not supported")
    dtypes, places = {}, {}

    def open_storage(key, dtype):
        dtypes[key] = dtype
        return lambda: _read_at(f, *places[key])

    obj = _Unpickler(f, path, open_storage).load()
    keys = _Unpickler(f, path, None).load()
    # Then each storage in the order of `keys`: an int64 element count and the raw bytes.
    for key in map(str, keys):
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * _itemsize(dtypes.get(key, np.uint8))
        places[key] = (f.tell(), nbytes)
        f.seek(nbytes, os.SEEK_CUR)
    return obj


def _read_at(f, start, nbytes):
    f.seek(start)
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise EOFError("a tensor storage is truncated")
    return data


def read_state_dict(path):
    """Reads the weights of a PyTorch checkpoint as numpy arrays, without PyTorch.

    Accepts the dict that training scripts save (`{"state_dict": ..., "optimizer": ...,
    "global_step": ...}`) or a bare state dict. Keys lose a DataParallel `module.` prefix.
    Tensors outside the state dict (the optimizer's moments) are never read.

    Args:
      path: a `.pth` file in either `torch.save` format.

    Returns:
      (state, info): `state` maps parameter names to numpy arrays; `info` holds the checkpoint's
      scalar entries such as `global_step` and `global_epoch`.

    Raises:
      InputError: the file is missing, not a checkpoint, truncated or has no state dict.
      UnsafeCheckpointError: the pickle names anything other than tensor data.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file")
    try:
        with open(path, "rb") as f:
            if zipfile.is_zipfile(f):
                with zipfile.ZipFile(f) as archive:
                    return _extract_state(path, _load_zip(path, archive))
            f.seek(0)
            return _extract_state(path, _load_legacy(path, f))
    except InputError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error,
            zipfile.BadZipFile, KeyError, IndexError, AttributeError) as err:
        raise InputError(path, f"not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from None


def _extract_state(path, obj):
    if not isinstance(obj, dict):
        raise InputError(path, f"expected a dict in the checkpoint, found {type(obj).__name__}")
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict) or not state:
        raise InputError(path, "the checkpoint has no state_dict")
    arrays = {}
    for key, value in state.items():
        if not isinstance(value, Tensor):
            raise InputError(path, f"state_dict entry {key!r} is not a tensor")
        name = key[len("module."):] if key.startswith("module.") else key
        arrays[name] = value.numpy()
    info = {k: v for k, v in obj.items() if isinstance(v, (int, float, str)) and k != "state_dict"}
    return arrays, info
