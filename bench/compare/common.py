"""What the comparison scripts in bench/compare share: the repository root and the face-cluster
binary they run."""

import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def binary():
    """$FACE_CLUSTER if set, else the release build in $CARGO_TARGET_DIR (default: target/)."""
    if os.environ.get("FACE_CLUSTER"):
        return os.environ["FACE_CLUSTER"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "face-cluster")
