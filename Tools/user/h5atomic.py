"""Write an HDF5 file atomically: a temporary file in the target folder, renamed at the end."""

import os
import tempfile


def write_h5_atomically(out_path, fill):
    """Create a temporary HDF5 file beside out_path, call fill(h5py.File), then rename it into place.

    Nothing is left behind on error (the temporary file is removed); the result is mode 0644.
    """
    import h5py

    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(out_path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
