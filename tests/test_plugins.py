"""Backends are plugins: found through the entry-point group ``softmax_rosetta.backends``, broken ones
reported in one line each while the others keep working.

The plugins here are real distributions as importlib.metadata sees them: a ``.dist-info`` folder with
an ``entry_points.txt`` on ``sys.path`` (what pip leaves behind), in a fresh Python process.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from softmax_rosetta.registry import BACKENDS, BUILT_IN, _declared, _entry_points, available_backends, backend_class

BUILT_INS = {
    "numpy": "softmax_rosetta.backends.numpy_impl.backend:NumpyBackend",
    "torch": "softmax_rosetta.backends.torch_impl.backend:TorchBackend",
    "jax": "softmax_rosetta.backends.jax_impl.backend:JaxBackend",
    "mlx": "softmax_rosetta.backends.mlx_impl.backend:MlxBackend",
}
FRAMEWORKS = ("torch", "jax", "flax", "optax", "numba", "mlx")


def test_the_built_in_backends_are_entry_points_of_this_distribution():
    """pyproject.toml declares them, and the editable install (dev.py's .venv) registered them."""
    ours = {ep.name: ep.value for ep in _entry_points() if ep.dist is not None and ep.dist.name == BUILT_IN}
    assert ours == BUILT_INS
    assert list(BACKENDS)[:4] == ["numpy", "torch", "jax", "mlx"]  # the order every listing keeps


def test_each_classes_packages_and_extra_are_read_without_importing_it():
    """The registry reads them from the class body; the class, once imported, says the same."""
    for name in available_backends():
        cls, info = backend_class(name), BACKENDS[name]
        assert _declared(info.module, info.cls) == (cls.packages, cls.extra)
        assert info.requires == cls.packages and cls.packages
        assert cls.name == name and cls.display_name and cls.title
        assert cls.variants[0] == "lesson" and cls.fused_variant in cls.variants
        assert set(cls.fast_variants) <= set(cls.variants)
        assert cls.data_parallel or cls.no_data_parallel


def test_listing_backends_imports_no_framework():
    code = (
        "import sys, json\n"
        "from softmax_rosetta.registry import BACKENDS, PROBLEMS, available_backends, missing_packages\n"
        "names = available_backends(); [missing_packages(n) for n in BACKENDS]\n"
        f"print(json.dumps([m for m in {FRAMEWORKS!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []


PLUGIN = '''
"""A backend plugin: the NumPy lesson under another name."""
from softmax_rosetta.backends.numpy_impl.backend import NumpyBackend


class TinyBackend(NumpyBackend):
    name = "tiny"
    display_name = "Tiny"
    title = "Tiny (NumPy inside)"
    packages = ("numpy",)
    extra = ""


class NotABackend:
    name = "nope"


class NeedsMissing(NumpyBackend):
    name = "needy"
    packages = ("numpy", "no_such_framework_xyz")
    extra = "needy"
'''

ENTRY_POINTS = """
[softmax_rosetta.backends]
tiny = tiny_plugin:TinyBackend
nope = tiny_plugin:NotABackend
needy = tiny_plugin:NeedsMissing
gone = no_such_module_xyz:Backend
crashes = crashing_plugin:Backend
numpy = tiny_plugin:TinyBackend
malformed = tiny_plugin
"""


def _install_plugin(root):
    """A distribution 'tiny-plugin' as pip would leave it: its module, and its .dist-info with the entry points."""
    (root / "tiny_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (root / "crashing_plugin.py").write_text("raise RuntimeError('the plugin is broken')\n")
    info = root / "tiny_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}


def _run(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "softmax_rosetta", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.slow
def test_a_plugin_trains_and_broken_ones_are_reported_one_line_each(tmp_path):
    env = _install_plugin(tmp_path)
    code = (
        "import json\n"
        "from softmax_rosetta.registry import BACKENDS, PROBLEMS, backend_class\n"
        "out = {}\n"
        "for n in BACKENDS:\n"
        "    try:\n"
        "        out[n] = backend_class(n).__name__\n"
        "    except Exception as exc:\n"
        "        out[n] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps({'names': list(BACKENDS), 'classes': out, 'problems': PROBLEMS}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=True)
    got = json.loads(done.stdout)
    assert got["names"][:4] == ["numpy", "torch", "jax", "mlx"]  # the built-in ones first, the clash not among them
    assert set(got["names"][4:]) == {"tiny", "nope", "needy", "crashes"}
    classes = got["classes"]
    assert classes["numpy"] == "NumpyBackend" and classes["tiny"] == "TinyBackend"
    assert classes["nope"].startswith("BackendUnavailable: backend plugin 'nope' (from tiny-plugin)")
    assert "a softmax_rosetta.backend.Backend subclass" in classes["nope"]
    assert classes["needy"] == (
        "BackendUnavailable: backend 'needy' needs no_such_framework_xyz, which is not installed: "
        "pip install 'tiny-plugin[needy]'"
    )
    assert classes["crashes"] == (
        "BackendUnavailable: backend plugin 'crashes' (from tiny-plugin): crashing_plugin failed to load: "
        "RuntimeError: the plugin is broken"
    )
    problems = sorted(got["problems"])
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    assert problems[0] == (
        "backend plugin 'gone' (from tiny-plugin, softmax_rosetta.backends): "
        "module 'no_such_module_xyz' is not installed"
    )
    assert problems[1] == (
        "backend plugin 'malformed' (from tiny-plugin, softmax_rosetta.backends): 'tiny_plugin' is not 'module:Class'"
    )
    assert problems[2] == (
        "backend plugin 'numpy' (from tiny-plugin, softmax_rosetta.backends): "
        "the name is taken by softmax-rosetta's backend; ignored"
    )


@pytest.mark.slow
def test_the_command_lists_a_plugin_and_trains_with_it(tmp_path):
    env = _install_plugin(tmp_path)
    listed = _run(env, "backends")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith("tiny ") and "installed" in line and "(from tiny-plugin)" in line for line in lines)
    assert any(line.startswith("numpy ") and "installed" in line for line in lines)
    assert any(line.startswith("nope ") and "broken: backend plugin 'nope'" in line for line in lines)
    assert any(line.startswith("needy ") and "not installed" in line and "tiny-plugin[needy]" in line for line in lines)
    assert any("'malformed'" in line and "is not 'module:Class'" in line for line in lines)
    trained = _run(env, "train", "tiny", "--spec", "seed", "--epochs", "2")
    assert trained.returncode == 0, trained.stderr
    reference = _run(env, "train", "numpy", "--spec", "seed", "--epochs", "2")
    # the plugin runs NumPy's lesson under its own name: the same costs, printed under its name
    assert trained.stdout.replace("tiny", "numpy") == reference.stdout


def test_what_a_backend_cant_do_is_refused_with_its_reason():
    """no_float64 and no_data_parallel: class facts a tool reads, and the one line a user gets."""
    from softmax_rosetta.backends.numpy_impl.backend import NumpyBackend
    from softmax_rosetta.checks import BackendError
    from softmax_rosetta.spec import load_spec

    class NoFloat64(NumpyBackend):
        no_float64 = {"cpu": "its kernels are float32 only"}

    with pytest.raises(BackendError) as refused:
        NoFloat64(dtype="float64")
    assert str(refused.value) == (
        "dtype: the numpy backend can't compute in float64 on cpu: its kernels are float32 only"
    )
    assert NoFloat64(dtype="float32").dtype == "float32"
    with pytest.raises(BackendError) as refused:
        NumpyBackend().train(load_spec("seed"), epochs=1, workers=2)
    assert str(refused.value) == (
        f"workers: the numpy backend trains in one process ({NumpyBackend.no_data_parallel}); workers must be 1, got 2"
    )
