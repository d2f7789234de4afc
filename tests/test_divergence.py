"""A learning rate so large that the cost overflows: every backend stops at the first
non-finite cost and says so in one line, naming the backend and the epoch."""

import numpy as np
import pytest

from softmax_rosetta import TrainingDiverged, get_backend, load_spec
from softmax_rosetta.testing import require_backend, require_dtype, training_runs

RUNS = training_runs()
IDS = [f"{n}:{v}" for n, v in RUNS]


def _diverge(name, variant, dtype, spec, lr):
    require_backend(name)
    be = get_backend(name, dtype=dtype)
    if variant not in be.variants:
        pytest.skip(f"{name} has no {variant} variant")
    with pytest.raises(TrainingDiverged) as info:
        be.train(spec, lr=lr, variant=variant)
    return info.value


# lr so large that the first step sends the weights past the dtype's largest number
OVERFLOW_LR = {"float32": 1e38, "float64": 1e307}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,variant", RUNS, ids=IDS)
def test_overflowing_lr_stops_at_the_first_nonfinite_cost(seed_spec, name, variant, dtype):
    require_dtype(name, dtype)
    err = _diverge(name, variant, dtype, seed_spec, OVERFLOW_LR[dtype])
    run = name if variant == "lesson" else f"{name}:{variant}"
    result = err.result
    # epoch 0's cost is the lesson's; the step after it overflows; epoch 1's cost is inf or nan
    assert result.diverged_at == 1
    assert len(result.costs) == 2 and np.isfinite(result.costs[0]) and not np.isfinite(result.costs[1])
    message = str(err)
    assert message.startswith(f"{run} diverged at epoch 1: cost ")
    assert "\n" not in message


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", RUNS, ids=IDS)
def test_later_divergence_is_found_at_the_same_epoch_everywhere(name, variant):
    """synthetic with lr 3000: weight decay x lr = 3 makes the weights grow about 2x a step;
    float32 overflows at epoch 13 in every backend (measured), the mini-batch loops and the
    fused JAX scan (which can't stop early and skips the later epochs' work instead) included."""
    spec = load_spec("synthetic")
    err = _diverge(name, variant, "float32", spec, 3000.0)
    assert err.result.diverged_at == 13
    assert len(err.result.costs) == 14
    assert np.all(np.isfinite(err.result.costs[:13]))


def test_the_cli_says_so_in_one_line_and_exits_1(capsys):
    from softmax_rosetta.tools.cli import main

    assert main(["train", "numpy", "--lr", "1e38"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "epoch: 0 cost: 1.6167852878570557"
    assert captured.err.splitlines()[-1] == (
        "softmax-rosetta: numpy diverged at epoch 1: cost nan (float32, lr 1e+38); "
        "training stopped there. Try a smaller --lr."
    )


def test_a_cost_that_is_already_inf_before_any_step_does_not_blame_the_lr(tmp_path, capsys):
    """Logits that overflow float32 (data and weights that each fit) make the very first cost nan:
    the message says so instead of suggesting a smaller learning rate."""
    from softmax_rosetta.tools.cli import main

    spec = tmp_path / "overflow.toml"
    spec.write_text(
        'name = "overflow"\n[data]\nx_train = [[1e20, 2e20], [3e20, -1e20]]\ny_train = [0, 1]\n'
        "[model]\nin_features = 2\nout_features = 2\n"
        '[init]\nkind = "explicit"\nweight = [[1e19, 1e19], [-1e19, 2e19]]\nbias = [0, 0]\n'
        '[optimizer]\nname = "sgd"\nlr = 0.1\nepochs = 3\n'
        "[tolerance.float32]\nexpected_cost = 1e-6\ncost = 1e-6\nparam = 1e-6\noutput = 1e-6\n"
    )
    assert main(["train", "numpy", "--spec", str(spec)]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("softmax-rosetta: numpy can't start training: the initial model's cost is already nan")
    assert "--lr" not in last and "overflow" in last
