"""The lesson's steps, in English and in Korean side by side: what each says, which concepts of the
table it shows, and the lesson's own one-line formulas and examples.

A step's text may name the spec's values as ``{lr}``, ``{epochs}``, ``{every}``, ``{first_cost}`` and
``{last_cost}`` (``lesson.facts``). The Korean (``ko``) is the same step retold for a Korean learner,
not a word-for-word translation; tests/test_lesson_ko.py holds the two to the same inline code.

``formula``: the lesson's one line, which each backend writes in its framework (``[formulas]`` in its
docs.toml, under the step's key), evaluated in the namespace of
the backend's ``functional.py`` (so it uses only the names that file imports) on ``z`` and ``y`` of
its ``example`` ("softmax": the scores [1, 2, 3]; "cross_entropy": the 3 x 5 scores and targets
[4, 2, 3] of common/data/lesson_examples.toml). The pages show it before the project's function,
and its row of numbers is what it computes in every backend.
``tables``: data tables shown after the text ("spec-data": the spec's data and initial parameters,
"ce-example": the cross-entropy example's scores and targets).
"""

from __future__ import annotations

import numpy as np

from softmax_rosetta.examples import lesson_examples

from .computations import Compute
from .context import Context
from .lesson_types import Formula, Prose, Step
from .refs import Numbers

__all__ = ["EXAMPLES", "STEPS", "TABLES", "Formula", "Prose", "Step"]

SOFTMAX_EXAMPLE, CROSS_ENTROPY_EXAMPLE = lesson_examples()
# The data tables a step may show after its text (lesson_markdown.py draws them).
TABLES = ("spec-data", "ce-example")
# What a step's formulas run on: z (float) and y (class indices, or None).
EXAMPLES: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
    "softmax": (SOFTMAX_EXAMPLE.scores, None),
    "cross_entropy": (CROSS_ENTROPY_EXAMPLE.scores, CROSS_ENTROPY_EXAMPLE.targets),
}


def printed(values: np.ndarray | float) -> str:
    """Numbers as the lesson's torch printed them: 4 decimals."""
    return ", ".join(f"{v:.4f}" for v in np.ravel(values))


def _on_example(target: str, **kwargs: object) -> Compute:
    """``target`` of the backend's functional.py on the cross-entropy example's scores and targets."""
    return lambda c: c.call(
        target, c.native(CROSS_ENTROPY_EXAMPLE.scores), c.native(CROSS_ENTROPY_EXAMPLE.targets), **kwargs
    )


def _row0(target: str) -> Compute:
    """Row 0 of ``target`` (softmax, log_softmax) on the cross-entropy example's scores, over the classes."""
    return lambda c: c.call(target, c.native(CROSS_ENTROPY_EXAMPLE.scores), axis=1)[0]


COST = printed(np.array(CROSS_ENTROPY_EXAMPLE.printed_cost))
ONE_LINE = f"the lesson's one line, on its example (it printed {COST})"
# The labels of the example's rows (lesson_text.py has their Korean, keyed by these).
EXAMPLE_SOFTMAX = f"the example's softmax, row 0 (it printed {printed(CROSS_ENTROPY_EXAMPLE.printed_softmax[0])})"
EXAMPLE_LOG_SOFTMAX = (
    f"the example's log_softmax, row 0 (it printed {printed(CROSS_ENTROPY_EXAMPLE.printed_log_softmax[0])})"
)
SOFTMAX_ONE_LINE = f"the lesson's one line, on [1, 2, 3] (it printed {printed(SOFTMAX_EXAMPLE.printed)})"


def on_example(function: str) -> str:
    """The label of a row of the project's ``function`` on the lesson's example."""
    return f"{function}, on the lesson's example"


def _softmax_123(c: Context) -> object:
    return c.call("functional:softmax", c.native(np.array([1.0, 2.0, 3.0])), axis=0)


STEPS: list[Step] = [
    Step(
        "data",
        "The data",
        [
            "Eight samples of four features each, and for each sample its class: 0, 1 or 2. The numbers "
            "mean nothing in particular; the set is small enough to read whole and to check by hand. "
            "Every backend gets the same arrays, read from the spec file `common/specs/seed.toml`: the "
            "features as float32, the classes as integers. Each framework has its own array type, made "
            "the same way: `np.asarray(x, dtype=np.float32)`, `torch.tensor(x, dtype=torch.float32)`, "
            "`jnp.asarray(x, dtype=jnp.float32)`, `mx.array(x, dtype=mx.float32)`.",
            "The model's starting point is data as well. The lesson calls `torch.manual_seed(1)` and then "
            "builds `nn.Linear(4, 3)`, which draws a 3 x 4 weight and 3 biases at random. The spec writes "
            "down exactly what torch draws, so NumPy, JAX and MLX start from the same values without torch's "
            "random number generator.",
        ],
        ko=Prose(
            "데이터",
            [
                "샘플 8개가 각각 특성 4개를 가지며, 샘플마다 클래스가 0, 1, 2 가운데 하나로 정해져 "
                "있습니다. 숫자 자체에 특별한 뜻은 없습니다. 전체를 한눈에 읽고 손으로 확인할 수 있을 만큼 작은 "
                "데이터일 뿐입니다. 모든 백엔드는 스펙 파일 `common/specs/seed.toml`에서 읽은 같은 배열을 받습니다. "
                "특성은 float32로, 클래스는 정수로 읽습니다. 배열 타입은 프레임워크마다 다르지만 만드는 방법은 "
                "같습니다: `np.asarray(x, dtype=np.float32)`, `torch.tensor(x, dtype=torch.float32)`, "
                "`jnp.asarray(x, dtype=jnp.float32)`, `mx.array(x, dtype=mx.float32)`.",
                "모델의 출발점도 데이터입니다. 강의는 `torch.manual_seed(1)`을 호출한 다음 `nn.Linear(4, 3)`을 "
                "만드는데, 이때 3 x 4 가중치(weight)와 편향(bias) 3개가 무작위로 정해집니다. 스펙에는 torch가 "
                "뽑는 값이 그대로 적혀 있어서, NumPy, JAX, MLX도 torch의 난수 생성기 없이 같은 값에서 출발합니다.",
            ],
        ),
        tables=["spec-data"],
    ),
    Step(
        "softmax",
        "Softmax: from scores to probabilities",
        [
            "A classifier gives each class a score, any real number; the scores of one sample are its "
            "logits, z. The lesson starts from what a classifier should give instead: a discrete probability "
            "distribution, one probability per class, none negative, summing to 1 (its picture is "
            "rock-paper-scissors: given the hand I show, the chance of each hand the other player shows). "
            "Softmax turns scores into such probabilities: take the exponential of each score and divide by "
            "their sum. The largest score gets the largest share, and adding the same number to every score "
            "changes nothing.",
            "The lesson calls PyTorch's softmax, `F.softmax(z, dim=0)`, on the scores `[1, 2, 3]`, prints "
            "`[{softmax_printed}]`, and checks that they sum to 1. Each backend below starts with that line "
            "in its framework: JAX has `jax.nn.softmax`; NumPy has no softmax, so its line is the formula "
            "itself. Then the project's function: NumPy's writes the formula out, subtracting the row's "
            "largest score first (which changes nothing but keeps `exp` from overflowing); PyTorch's and "
            "JAX's call their library's. The numbers end with the same softmax on z, the scores the "
            "untrained model gives the eight samples.",
        ],
        concepts=["softmax"],
        numbers=[Numbers("softmax([1, 2, 3])", "output", _softmax_123)],
        ko=Prose(
            "소프트맥스: 점수에서 확률로",
            [
                "분류기는 클래스마다 점수를 하나씩 매기며, 점수는 어떤 실수든 될 수 있습니다. 한 샘플의 점수들을 "
                "로짓이라 부르고 z로 씁니다. 강의는 분류기가 점수 대신 내놓아야 할 것에서 출발합니다. 바로 이산 "
                "확률 분포(discrete probability distribution)입니다. 클래스마다 음수가 아닌 확률이 하나씩 있고, "
                "모두 더하면 1이 됩니다. 강의는 가위바위보를 예로 듭니다. 내가 어떤 손을 내느냐에 따라 상대가 "
                "각 손을 낼 가능성이 달라지는데, 그 가능성들이 이런 분포를 이룹니다. 소프트맥스는 점수를 이런 "
                "확률로 바꿉니다. 점수마다 지수 함수를 취하고, 그 합으로 나누면 됩니다. 가장 큰 점수가 가장 큰 "
                "몫을 가져가며, 모든 점수에 같은 수를 더해도 결과는 변하지 않습니다.",
                "강의는 점수 `[1, 2, 3]`에 PyTorch의 소프트맥스 `F.softmax(z, dim=0)`을 적용해 "
                "`[{softmax_printed}]`라는 확률을 출력하고, 그 "
                "합이 1인지 확인합니다. 아래의 각 백엔드는 먼저 이 한 줄을 자기 "
                "프레임워크로 보여 줍니다. JAX에는 `jax.nn.softmax`가 있고, NumPy에는 소프트맥스 함수가 없으므로 "
                "공식 자체가 그 한 줄입니다. 이어서 이 프로젝트의 함수가 나옵니다. NumPy의 함수는 공식을 직접 "
                "쓰되, 먼저 행에서 가장 큰 점수를 뺍니다. 결과는 같지만 `exp`가 넘치는(overflow) 것을 막아 "
                "줍니다. PyTorch와 JAX의 함수는 라이브러리의 소프트맥스를 부릅니다. 숫자 표의 마지막 두 행은 같은 "
                "소프트맥스를 z, 곧 학습 전 모델이 샘플 8개에 매긴 점수에 적용한 결과입니다.",
            ],
        ),
        formula=Formula("softmax", "softmax", SOFTMAX_ONE_LINE),
    ),
    Step(
        "loss-onehot",
        "Cross-entropy, level 1: one-hot targets times minus log softmax",
        [
            "To learn, the model needs one number that says how wrong it is: the loss. Cross-entropy takes, "
            "for each sample, minus the log of the probability the model gives the right class (near 0 when "
            "it is sure and right, large when it is sure and wrong) and averages that over the samples.",
            "The lesson's example has scores for 3 samples and 5 classes, drawn by `torch.rand(3, 5)`, and a "
            "class for each sample, `y = [4, 2, 3]`. It writes the loss out in full: the classes become "
            "one-hot rows (class 4 of 5 is `[0, 0, 0, 0, 1]`), made by writing ones into zeros with "
            "`scatter_`; they multiply minus the log of the softmax; summing each row keeps only the right "
            "class's term, and the mean over the rows is the loss, {ce_cost}.",
            "The draw had no seed, and the lesson printed only its softmax and log_softmax, to 4 decimals, "
            "never the scores. Softmax doesn't change when all the scores of a row move by the same amount, "
            "so any scores that give both printouts stand for the draw: the table below holds such scores "
            "(each row's log-probabilities, to 5 decimals, from `common/data/lesson_examples.toml`). From "
            "them every backend prints the lesson's numbers, and {ce_cost} at all three levels.",
            "Each backend's code starts with the lesson's one line in its framework, then the project's "
            "function, which also holds every option of torch's (class weights, `ignore_index`, reduction, "
            "label smoothing; docs/rosetta.md shows each). The numbers come on the lesson's example first, "
            "then on the spec's z and y.",
        ],
        concepts=["one-hot", "loss-onehot"],
        numbers=[
            Numbers(EXAMPLE_SOFTMAX, "output", _row0("functional:softmax")),
            Numbers(on_example("cross_entropy_onehot"), "output", _on_example("functional:cross_entropy_onehot")),
        ],
        ko=Prose(
            "교차 엔트로피 1단계: 원-핫 타깃 곱하기 마이너스 로그 소프트맥스",
            [
                "모델이 배우려면 자신이 얼마나 틀렸는지 알려 주는 숫자 하나가 필요합니다. 이것이 손실(loss)입니다. "
                "교차 엔트로피는 샘플마다 모델이 정답 클래스에 준 확률에 로그를 취해 마이너스를 붙이고(정답을 "
                "확신하면 0에 가깝고, 오답을 확신하면 커집니다), 이 값을 샘플 전체에 걸쳐 평균합니다.",
                "강의의 예제는 샘플 3개, 클래스 5개의 점수를 `torch.rand(3, 5)`로 뽑고, 샘플마다 클래스를 하나씩 "
                "정합니다: `y = [4, 2, 3]`. 그리고 손실을 끝까지 풀어서 씁니다. 먼저 클래스를 원-핫 인코딩(one-hot "
                "encoding)으로 바꿉니다. 클래스 5개 중 4번은 `[0, 0, 0, 0, 1]`이 되며, 0으로 채운 텐서에 "
                "`scatter_`로 1을 써 넣어 만듭니다. 이 행에 소프트맥스의 로그에 마이너스를 붙인 값을 곱해 행마다 "
                "더하면 정답 클래스의 항만 남고, 행들의 평균이 손실 {ce_cost}입니다.",
                "이 점수는 시드 없이 뽑혔고, 강의는 점수 자체는 출력하지 않고 그 소프트맥스와 log_softmax만 소수 "
                "넷째 자리까지 출력했습니다. 한 행의 점수를 모두 같은 만큼 옮겨도 소프트맥스는 변하지 않으므로, "
                "두 출력을 모두 재현하는 점수라면 어느 것이든 원래 점수를 대신할 수 있습니다. 아래 표의 점수가 "
                "그런 값입니다(각 행의 로그 확률을 소수 다섯째 자리까지 적은 것으로, "
                "`common/data/lesson_examples.toml`에 있습니다). 이 점수로 모든 백엔드가 강의의 숫자를 그대로 "
                "내며, 세 단계 모두 손실이 {ce_cost}입니다.",
                "백엔드마다 코드는 먼저 강의의 한 줄을 그 프레임워크로 옮겨 보여 주고, 이어서 이 프로젝트의 함수를 "
                "보여 줍니다. 함수에는 torch의 옵션(클래스 가중치, `ignore_index`, reduction, 레이블 스무딩)도 "
                "모두 들어 있으며, docs/rosetta.md가 옵션마다 따로 보여 줍니다. 숫자는 강의의 예제에 대한 것이 "
                "먼저, 스펙의 z와 y에 대한 것이 그다음입니다.",
            ],
        ),
        formula=Formula("loss-onehot", "cross_entropy", ONE_LINE),
        tables=["ce-example"],
    ),
    Step(
        "loss-nll",
        "Cross-entropy, level 2: log_softmax, then nll_loss",
        [
            "Two things in level 1 are wasteful. The log of a softmax, taken in two steps, can fail: a "
            "probability too small for float32 becomes 0, and its log minus infinity. `log_softmax` gives "
            "the same values in one step, as `z - logsumexp(z)`, and never takes the log of 0. And "
            "multiplying by a one-hot row only to pick one entry of each row does work for nothing: "
            "`nll_loss` (the negative log-likelihood) picks each row's log-probability of its class and "
            "averages minus those.",
            "On the lesson's example, `log_softmax` gives the second thing the lesson printed, and the loss "
            "is {ce_cost} again; on the spec's z the means are level 1's, to float32 rounding. PyTorch's one "
            "line is the lesson's. JAX has no `nll_loss`, so `jnp.take_along_axis` picks each row's "
            "log-probability of its class; NumPy's line calls the project's own `log_softmax` and "
            "`nll_loss`, shown below.",
        ],
        concepts=["log-softmax", "loss-nll"],
        numbers=[
            Numbers(EXAMPLE_LOG_SOFTMAX, "output", _row0("functional:log_softmax")),
            Numbers(on_example("cross_entropy_nll"), "output", _on_example("functional:cross_entropy_nll")),
        ],
        ko=Prose(
            "교차 엔트로피 2단계: log_softmax 다음 nll_loss",
            [
                "1단계에는 낭비가 두 가지 있습니다. 첫째, 소프트맥스의 로그를 두 번에 나눠 구하면 실패할 수 "
                "있습니다. float32로 나타내기에 너무 작은 확률은 0이 되고, 그 로그는 마이너스 무한대가 됩니다. "
                "`log_softmax`는 같은 값을 `z - logsumexp(z)`로 한 번에 구하므로 0의 로그를 취할 일이 없습니다. "
                "둘째, 행마다 항목 하나를 고르려고 원-핫 행을 곱하는 것은 헛수고입니다. `nll_loss`는 음의 로그 "
                "우도(negative log-likelihood)로, 각 행에서 정답 클래스의 로그 확률을 골라 마이너스를 붙여 "
                "평균합니다.",
                "강의의 예제에서 `log_softmax`는 강의가 두 번째로 출력한 값을 그대로 내고, 손실은 다시 "
                "{ce_cost}입니다. 스펙의 z에서는 평균이 float32 반올림 범위 안에서 1단계와 같습니다. PyTorch의 "
                "한 줄은 강의의 것 그대로입니다. JAX에는 `nll_loss`가 없어서 `jnp.take_along_axis`로 각 행의 "
                "정답 클래스 로그 확률을 고르고, NumPy의 한 줄은 아래에 나오는 이 프로젝트의 `log_softmax`와 "
                "`nll_loss`를 부릅니다.",
            ],
        ),
        formula=Formula("loss-nll", "cross_entropy", ONE_LINE),
    ),
    Step(
        "loss-fused",
        "Cross-entropy, level 3: one call",
        [
            "Last, the library does both at once: `F.cross_entropy(z, y)` takes the logits and the class "
            "indices, and is the form to use in practice. Its numbers are those of levels 1 and 2, {ce_cost} "
            "on the lesson's example: three ways to write one loss. JAX's one line is optax's "
            "`softmax_cross_entropy_with_integer_labels`, which gives each row's loss, averaged by `.mean()`; "
            "NumPy has no loss functions, so its line is the fused formula itself, `logsumexp(z) - z[y]` "
            "averaged over the rows.",
        ],
        concepts=["loss-fused"],
        numbers=[Numbers(on_example("cross_entropy"), "output", _on_example("functional:cross_entropy"))],
        ko=Prose(
            "교차 엔트로피 3단계: 함수 한 번 호출",
            [
                "마지막으로 라이브러리가 두 일을 한꺼번에 합니다. `F.cross_entropy(z, y)`는 로짓과 클래스 "
                "인덱스를 받으며, 실제로는 이 형태를 씁니다. 숫자는 1단계, 2단계와 같고 강의의 예제에서는 "
                "{ce_cost}입니다. 하나의 손실을 세 가지로 쓴 셈입니다. JAX의 한 줄은 optax의 "
                "`softmax_cross_entropy_with_integer_labels`로, 행마다 손실을 주므로 `.mean()`으로 평균합니다. "
                "NumPy에는 손실 함수가 없으므로 하나로 합친 공식 `logsumexp(z) - z[y]`를 행에 걸쳐 평균한 것이 "
                "그 한 줄입니다.",
            ],
        ),
        formula=Formula("loss-fused", "cross_entropy", ONE_LINE),
    ),
    Step(
        "model",
        "The model: one linear layer",
        [
            "The classifier is one linear layer: each class's score is a weighted sum of the four features "
            "plus a bias, `z = x W^T + b`, with W of shape 3 x 4 (a row per class) and b of length 3. The "
            "lesson wraps PyTorch's `nn.Linear(4, 3)` in a small `nn.Module`; Flax has `nnx.Linear`; "
            "NumPy keeps two arrays and writes the layer's forward and backward passes itself.",
            "The model starts from the spec's parameters, so its logits are the z of the steps above.",
        ],
        concepts=["model"],
        ko=Prose(
            "모델: 선형 계층 하나",
            [
                "분류기는 선형 계층(linear layer) 하나입니다. 각 클래스의 점수는 특성 네 개의 가중합에 편향을 "
                "더한 값, 곧 `z = x W^T + b`이며, W의 모양은 3 x 4(클래스마다 한 행), b의 길이는 3입니다. 강의는 "
                "PyTorch의 `nn.Linear(4, 3)`을 작은 `nn.Module`로 감쌉니다. Flax에는 `nnx.Linear`가 있고, NumPy는 "
                "배열 두 개를 두고 이 계층의 순전파(forward pass)와 역전파(backward pass)를 직접 씁니다.",
                "모델은 스펙의 파라미터에서 출발하므로, 모델이 내는 로짓은 앞 단계들의 z와 같습니다.",
            ],
        ),
    ),
    Step(
        "sgd",
        "SGD: one step downhill",
        [
            "Training moves W and b so that the loss gets smaller. The gradient of the loss says, for each "
            "parameter, which way is uphill; stochastic gradient descent (SGD) takes a small step the other "
            "way, `p <- p - lr * gradient`, with the learning rate lr = {lr}. The lesson feeds the whole "
            "data set to every step, so nothing here is random: it is plain gradient descent, through "
            "torch's `optim.SGD`. (Its other options, momentum, dampening, Nesterov and weight decay, are "
            "written in every backend as well: docs/rosetta.md shows them.)",
            "One step computes the logits, the loss and its gradients, then updates the parameters. "
            "PyTorch and JAX differentiate the loss automatically; NumPy writes the gradient out, which "
            "for softmax with cross-entropy is short: `(softmax(z) - one_hot(y)) / N` at the logits, "
            "then the chain rule through the layer.",
        ],
        concepts=["optimizer", "step"],
        leave_out=["DampenedTraceState", "dampened_trace"],
        ko=Prose(
            "SGD: 내리막으로 한 걸음",
            [
                "학습이란 손실이 작아지도록 W와 b를 움직이는 일입니다. 손실의 그래디언트(gradient)는 파라미터마다 "
                "어느 쪽이 오르막인지 알려 주고, 확률적 경사 하강법(stochastic gradient descent, SGD)은 그 반대쪽으로 "
                "작은 걸음을 내딛습니다: `p <- p - lr * gradient`, 학습률(learning rate)은 lr = {lr}입니다. 강의는 "
                "스텝마다 데이터 전체를 넣으므로 여기에는 무작위한 요소가 없습니다. torch의 `optim.SGD`를 쓰지만 "
                "실제로는 평범한 경사 하강법입니다. (모멘텀, 감쇠(dampening), 네스테로프, 가중치 감쇠 같은 다른 "
                "옵션도 모든 백엔드에 구현되어 있으며, docs/rosetta.md에서 볼 수 있습니다.)",
                "한 스텝은 로짓과 손실, 그래디언트를 구한 다음 파라미터를 갱신합니다. PyTorch와 JAX는 자동 "
                "미분으로 손실의 그래디언트를 구하고, NumPy는 그래디언트를 직접 씁니다. "
                "소프트맥스와 교차 엔트로피를 함께 쓰면 그 식이 짧습니다. 로짓에서의 그래디언트는 "
                "`(softmax(z) - one_hot(y)) / N`이고, 나머지는 계층을 따라 연쇄 법칙을 적용하면 됩니다.",
            ],
        ),
    ),
    Step(
        "loop",
        "The loop and its printout",
        [
            "Training repeats that step: for epochs 0 to {epochs}, compute the cost, take one step, and "
            "every {every} epochs print the cost. The cost falls from {first_cost} to {last_cost}, and all "
            "eight samples end up in their class.",
            "Those printed costs are this project's test: each backend must reproduce the lesson's "
            "printout within the seed spec's tolerance.",
        ],
        concepts=["loop"],
        printout=True,
        ko=Prose(
            "학습 루프와 출력",
            [
                "학습은 그 스텝을 되풀이하는 것입니다. 에포크(epoch) 0부터 {epochs}까지 비용을 계산하고 한 스텝을 "
                "밟으며, {every} 에포크마다 비용을 출력합니다. 비용은 {first_cost}에서 {last_cost}까지 내려가고, "
                "샘플 8개가 모두 제 클래스로 분류됩니다.",
                "이렇게 출력된 비용이 이 프로젝트가 확인하는 기준입니다. 모든 백엔드는 강의의 출력을 seed 스펙의 허용 "
                "오차(tolerance) 안에서 재현해야 합니다.",
            ],
        ),
    ),
]
