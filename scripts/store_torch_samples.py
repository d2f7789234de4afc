"""Store torch's sample inputs and answers for the conformance kit (tools/conform/data/torch_samples.npz).

    .venv/bin/python scripts/store_torch_samples.py     # needs torch and expecttest

Runs tests/test_torch_samples.py as a script (a child process: importing torch.testing._internal changes
the process that does it), as that test does, and keeps every sample the API can take.
"""

import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from softmax_rosetta.tools.conform.torch_samples import STORED, store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.pickle"
        subprocess.run([sys.executable, str(ROOT / "tests" / "test_torch_samples.py"), str(path)], check=True)
        with open(path, "rb") as fh:
            cases = pickle.load(fh)
    kept = store(cases)
    print(f"{STORED}: {kept} of {len(cases)} samples ({STORED.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
