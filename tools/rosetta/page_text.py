"""The side-by-side page's own words in every language: docs/rosetta.html and docs/ko/rosetta.html.

The code and the numbers are the same on both pages; only these words differ. The concepts' titles
and notes that the lesson shows are lesson_text.py's (``CONCEPTS_KO``), its rows' labels too
(``LABELS_KO``); here are the rest: the page's fixed strings (``PAGE``), the Korean of every
concept's introduction, the titles and notes of the concepts only this page shows, and the labels
of its other rows. The measured record under "Why the last digits differ" (why.py, from
tools/diverge) stays in English on both pages; the Korean page says so.
"""

from __future__ import annotations

from . import prose
from .base import DIGITS, DTYPE, SOURCES, RosettaError
from .lesson_text import CONCEPTS_KO, LABELS_KO
from .run import Rosetta

TEXT_FILE = "tools/rosetta/page_text.py"

PAGES = {"en": "rosetta.html", "ko": "ko/rosetta.html"}

# (The English of "intro1", "intro2" and "generated" is prose.py's, which rosetta.md shares.)
PAGE: dict[str, dict[str, str]] = {
    "title": {
        "en": "The lesson side by side: NumPy, PyTorch, JAX, MLX",
        "ko": "나란히 보는 강의: NumPy, PyTorch, JAX, MLX",
    },
    "other_language": {
        "en": '<a href="ko/rosetta.html" hreflang="ko" lang="ko">한국어</a>',
        "ko": '<a href="../rosetta.html" hreflang="en" lang="en">English</a>',
    },
    "wrap": {"en": "wrap long lines", "ko": "긴 줄 접기"},
    "intro1": {
        "ko": "SGD로 학습하는 `nn.Linear(4, 3)` 소프트맥스(softmax) 분류라는 강의 하나를 NumPy, PyTorch, "
        "Flax NNX와 Optax를 곁들인 JAX, 그리고 MLX로 네 번 썼습니다. "
        "교차 엔트로피(cross-entropy) 손실(loss)의 세 단계와 그 "
        "옵션, 모델, 옵티마이저, 학습 스텝과 루프가 차례로 나오고, 출력하는 비용(cost)은 강의의 값과 일치해야 "
        "합니다. 절마다 개념 하나를 각 백엔드의 파일에서 잘라 온 "
        "코드로 보여 주고(코드 블록마다 그 파일과 줄로 연결됩니다), 무엇이 왜 다른지 설명한 뒤, 모든 백엔드가 "
        "계산한 숫자로 끝납니다.",
    },
    "intro2": {
        "ko": "숫자의 조건은 스펙 `{spec}`(샘플 {n}개, 특성(feature) {d}개, 클래스 {c}개, 학습률(learning rate) "
        "{lr}, 에포크(epoch) 0~{epochs}), {dtype}, CPU입니다. z는 스펙의 초기 가중치(weight)와 "
        "편향(bias)을 가진 모델이 스펙의 데이터에 매긴 로짓(logit)으로, NumPy에서 한 번 계산해 "
        "모든 백엔드에 똑같이 넘겨 주며, y는 그 레이블입니다. 숫자는 "
        "유효 숫자 {digits}자리로 적었고, 마지막 열은 반올림하기 전 두 백엔드 사이의 가장 큰 차이입니다.",
    },
    "links_repo": {
        "en": "its first line in the repository ({url})",
        "ko": "저장소에 있는 그 첫 줄({url})",
    },
    "links_page": {
        "en": "its first line on this page (`softmax-rosetta rosetta --repo-url URL` links to the repository instead)",
        "ko": "이 페이지에 있는 그 첫 줄(`softmax-rosetta rosetta --repo-url URL`로 만들면 저장소로 연결됩니다)",
    },
    "links": {
        "en": "Above each block, its file and first line link to {where}; a line number links to that line on "
        'this page. Untick "wrap long lines" to have long lines scroll sideways in their block instead.',
        "ko": "코드 블록 위의 파일과 첫 줄 번호는 {where}로 연결되고, 줄 번호는 이 페이지의 그 줄로 "
        '연결됩니다. "긴 줄 접기"를 끄면 긴 줄이 접히는 대신 블록 안에서 옆으로 스크롤됩니다.',
    },
    "generated": {
        "ko": "`softmax-rosetta rosetta`가 백엔드의 코드({table})와 이 페이지의 글({text})로 만든 파일이니 손으로 "
        "고치지 마세요. 코드와 어긋나면 `softmax-rosetta rosetta --check`(와 tests/test_rosetta.py)가 실패합니다.",
    },
    "show": {"en": "Show:", "ko": "보기:"},
    "choose": {
        "en": 'Untick a framework under "Show:" to hide its code and its numbers: any two side by side, or one '
        "alone (the last one ticked stays). The choice stays in the page's address (`{example}`), so a link to it "
        'opens the same view. The plot, each table\'s "largest difference" and "Why the last digits '
        'differ" still compare every framework.',
        "ko": '"보기:"에서 프레임워크를 끄면 그 코드와 숫자가 숨겨집니다. 둘을 나란히 보거나 하나만 볼 수 있고, '
        "마지막으로 남은 하나는 끌 수 없습니다. 고른 것은 주소에 `{example}`처럼 남으므로 그 주소로 "
        '연결하면 같은 화면이 열립니다. 그래프, 표마다 있는 "가장 큰 차이", 그리고 "마지막 자릿수가 다른 '
        '이유"는 여전히 모든 프레임워크를 비교합니다.',
    },
    "versions": {"en": "Computed with {versions}.", "ko": "계산에 쓴 버전: {versions}."},
    "alt": {
        "en": "The cost per epoch of the backends on spec {spec}, overlaid, and their distance from NumPy's",
        "ko": "스펙 {spec}에서 백엔드마다 에포크별 비용을 겹쳐 그린 그래프와, NumPy의 비용과의 차이",
    },
    "caption": {
        "en": "The whole training run in every backend: the curves lie on top of each other (the band is the "
        "cost zigzagging up and down from one epoch to the next); the other panel shows each one's largest "
        "difference from NumPy's cost so far, under the grey band that rounding alone may reach, which the "
        "agreement report holds them to.",
        "ko": "모든 백엔드의 학습 전체입니다. 곡선들은 서로 겹쳐 있고(띠처럼 보이는 것은 비용이 에포크마다 "
        "오르내리며 지그재그를 그리기 때문입니다), 다른 패널은 각 백엔드가 그때까지 NumPy의 비용과 가장 크게 달랐던 "
        "값을 보여 줍니다. 회색 띠는 반올림만으로 생길 수 있는 차이의 범위로, 일치 보고서가 이 안에 있는지 확인합니다. "
        "그래프 안의 글자는 영어판과 같은 그림이라 영어입니다.",
    },
    "contents": {"en": "contents", "ko": "차례"},
    "differs": {"en": "What differs.", "ko": "차이점."},
    "spec": {"en": "spec {spec}, {dtype}", "ko": "스펙 {spec}, {dtype}"},
    "largest": {"en": "largest difference", "ko": "가장 큰 차이"},
    "in": {"en": "in {name}", "ko": "{name} 안"},
    "why_record": {
        "en": "",
        "ko": "아래의 측정 기록은 `softmax-rosetta diverge`가 쓰는 그대로 영어입니다.",
    },
}

WHY_TITLE_KO = "마지막 자릿수가 다른 이유"
WHY_PROSE_KO = [
    "백엔드들은 같은 공식을 계산하는데도 마지막 자릿수가 다르게 출력됩니다. float32 수는 유효 비트 24개를 "
    "가지며, 그 수와 바로 다음 float32 사이의 간격을 *ulp*(unit in the last place)라고 합니다. 1과 2 사이의 "
    "수에서는 2^-23, 약 1.2e-7입니다. 덧셈과 곱셈은 매번 정확한 결과를 가장 가까운 float32로 반올림하므로 "
    "합의 순서가 중요합니다: (a + b) + c와 a + (b + c)는 마지막 비트가 다를 수 있습니다. 융합 곱셈-덧셈(fused "
    "multiply-add, FMA)은 a * b + c를 한 번만 반올림하지만, 곱셈 뒤에 덧셈을 하면 두 번 반올림합니다. 프레임워크는 "
    "저마다 CPU에서 가장 빠른 순서와 명령(SIMD 레인, 블록 단위 행렬 곱, FMA)을 고르므로, 올바른 두 프로그램도 "
    "계산 방식이 처음 달라지는 연산에서 1 ulp나 몇 ulp만큼 갈라지고, 학습은 그 차이를 계속 실어 나릅니다.",
    "강의에는 문제가 되지 않습니다. 이만한 차이는 반올림만으로 생기는 크기이고([tolerances.md](tolerances.md)가 "
    "얼마까지 커질 수 있는지 유도합니다), 모델이 배우는 것을 바꾸는 크기보다 훨씬 작습니다. 아래에서 짝마다 "
    "가장 큰 비용 차이를 스펙의 허용 오차(tolerance)와 나란히 놓습니다. `softmax-rosetta diverge`는 두 실행의 첫 "
    "차이를 찾습니다([diverge.md](diverge.md)). 아래는 seed 스펙의 첫 차이와 그 원인입니다. 원인은 시연으로 "
    "보입니다: 그 연산 하나를 NumPy에서 선택 하나만 바꿔 다시 계산하면 다른 백엔드의 비트가 모든 원소에서 "
    "그대로 나옵니다(그렇지 않은 원인은 이름을 대지 않습니다).",
    "이 비트들은 기계(CPU, 코어 수, BLAS, 프레임워크 버전)에 따라 달라지므로, 숫자와 함께 만든 기계를 "
    "기록합니다. `softmax-rosetta rosetta --check`는 이를 다시 계산해, 기록과 같은 기계에서는 정확히 같기를 "
    "요구하고, 다른 기계에서는 다른 기계에서 만들었다고 알린 뒤 나머지 페이지를 확인합니다.",
]

# Each concept's introduction in Korean (the formulas in code spans are the English ones').
INTROS_KO: dict[str, str] = {
    "softmax": "`softmax(z)_i = exp(z_i) / sum_j exp(z_j)`: 클래스 축을 따라 로짓을 확률로 바꿉니다.",
    "log-softmax": "`log_softmax(z) = z - logsumexp(z)`: 손실(loss)에 필요한 로그 확률입니다.",
    "one-hot": "클래스 인덱스 (N,)를 1이 하나만 있는 행 (N, C)로 바꿉니다. 강의의 저수준 손실이 이것을 곱합니다.",
    "loss-onehot": "강의의 첫 공식: `(y_one_hot * -torch.log(F.softmax(z, dim=1))).sum(dim=1).mean()`.",
    "loss-nll": "강의의 두 번째 형태: `F.nll_loss(F.log_softmax(z, dim=1), y)`. 원-핫 벡터를 만들지 않습니다.",
    "loss-fused": "강의의 마지막 형태: `F.cross_entropy(z, y)`. `log_softmax`와 `nll_loss`를 한 번에 호출합니다.",
    "option-weight": "`weight` (C,)는 원소마다 손실에 그 레이블의 가중치(weight)를 곱합니다. 여기서는 "
    "`weight = [0.2, 0.3, 0.5]`입니다.",
    "option-ignore-index": "`ignore_index`와 같은 타깃(torch의 기본값은 -100이며, 패딩에 씁니다)은 아무것도 "
    "더하지 않고, 평균의 분모에도 들어가지 않습니다. 여기서는 0행과 3행을 무시합니다.",
    "option-reduction": '`reduction`: `"none"`(원소마다 손실 하나), `"sum"`, 또는 `"mean"`(합을 평균의 '
    "분모로 나눈 값).",
    "option-label-smoothing": "타깃이 `(1 - eps) * one_hot(y) + eps / C`가 되어 모든 클래스에 조금씩 확률이 "
    "실립니다. 여기서는 `eps = 0.1`입니다.",
    "option-probabilities": "로짓과 모양이 같은 실수 타깃은 클래스에 걸친 분포(소프트 레이블)입니다. 여기서는 "
    "레이블에 0.7, 모든 클래스에 0.1을 둡니다.",
    "model": "`logits = x W^T + b`, `nn.Linear(4, 3)`. 스펙의 초기 파라미터(`torch.manual_seed(1); "
    "nn.Linear(4, 3)`이 뽑는 값)에서 출발합니다.",
    "optimizer": "`torch.optim.SGD`의 규칙: 가중치 감쇠가 그래디언트(gradient)에 더해지고, 다음에 모멘텀 "
    "버퍼, 그다음 `p <- p - lr * g`입니다.",
    "step": "순전파(forward pass), 손실, 그 그래디언트, 갱신 한 번.",
    "loop": "에포크 0~1000, 에포크마다 배치(강의에서는 데이터 전체)에 SGD 스텝 한 번을 하며, 비용(cost)은 스텝 "
    "전에 기록합니다.",
    "fused": "스텝마다 드는 오버헤드를 걷어 낸 같은 실행: `softmax-rosetta train`의 변형(variant) `fast`(NumPy), "
    "`compiled`(PyTorch), `fused`(JAX), `compiled`(MLX).",
    "data-parallel": "같은 스텝을 워커 K개에서, 워커마다 배치의 행을 나눠 맡아 실행합니다: `softmax-rosetta "
    "train torch|jax --workers K`(docs/distributed.md).",
}

# The titles and notes of the concepts the lesson doesn't show (those it shows: lesson_text.CONCEPTS_KO).
PAGE_CONCEPTS_KO: dict[str, tuple[str, str]] = {
    "option-weight": (
        "교차 엔트로피 옵션: weight (클래스마다 하나)",
        "평균은 N이 아니라 계산에 들어가는 가중치의 합으로 나눕니다.",
    ),
    "option-ignore-index": (
        "교차 엔트로피 옵션: ignore_index",
        "",
    ),
    "option-reduction": (
        "교차 엔트로피 옵션: reduction",
        "",
    ),
    "option-label-smoothing": (
        "교차 엔트로피 옵션: label_smoothing",
        "",
    ),
    "option-probabilities": (
        "교차 엔트로피 옵션: 확률 타깃",
        "`ignore_index`는 적용되지 않으며, 평균은 원소 수로 나눕니다.",
    ),
    "fused": (
        "합친 루프: 컴파일하거나, 손으로 합치거나",
        "",
    ),
    "data-parallel": (
        "데이터 병렬 스텝: DistributedDataParallel과 JAX 샤딩",
        "데이터 병렬 백엔드는 합한 손실을 배치 전체의 행 수로 나누므로, 고르게 나뉘지 않는 배치도 전체 평균을 "
        "얻습니다. 덧셈의 순서만 달라지므로 float64에서는 단일 프로세스와 반올림 오차 안에서 일치합니다.",
    ),
}

# The Korean of the rows' labels the lesson doesn't show (those it shows: lesson_text.LABELS_KO), and
# of the text cells.
PAGE_LABELS_KO: dict[str, str] = {
    "fused, mean": "합친 단계, 평균",
    "level 1 (one-hot), mean": "1단계(원-핫), 평균",
    "nll_loss(log_softmax(z), t), mean of 6 rows": "nll_loss(log_softmax(z), t), 6개 행의 평균",
    "fused, mean of 6 rows": "합친 단계, 6개 행의 평균",
    "fused, sum": "합친 단계, 합",
    "fused, none, rows 0 to 2": "합친 단계, none, 0~2행",
    "the variant": "변형",
    "final cost": "최종 비용",
    "takes --workers > 1 (Backend.data_parallel)": "--workers > 1을 받는가 (Backend.data_parallel)",
    "no: the single-process reference": "아니요: 단일 프로세스 기준",
    "yes": "예",
    **{variant: variant for variant in ("fast", "compiled", "fused")},  # the variants' names, as typed
}


def text(key: str, lang: str, **fields: object) -> str:
    """The page's fixed string ``key`` in ``lang``, its fields filled in."""
    try:
        template = PAGE[key][lang]
    except KeyError:
        raise RosettaError(f"rosetta: the side-by-side page has no {key!r} in {lang!r} ({TEXT_FILE})") from None
    return template.format(**fields) if fields else template


def intro(rosetta: Rosetta, lang: str) -> list[str]:
    """The paragraphs at the top of the page."""
    if lang == "en":
        return prose.intro(rosetta)
    spec = rosetta.spec
    fields = dict(
        spec=spec.name, n=spec.num_samples, d=spec.num_features, c=spec.num_classes, lr=f"{spec.lr:g}",
        epochs=spec.epochs, dtype=DTYPE, digits=DIGITS,
    )  # fmt: skip
    return [text("intro1", lang), text("intro2", lang, **fields)]


def generated(lang: str) -> str:
    """The line that says the page is generated."""
    return prose.GENERATED if lang == "en" else text("generated", lang, table=SOURCES, text=TEXT_FILE)


def concept(key: str, title: str, intro: str, note: str, lang: str) -> tuple[str, str, str]:
    """A concept's (title, intro, note) in ``lang`` (the table's own in English)."""
    if lang == "en":
        return title, intro, note
    found = CONCEPTS_KO.get(key) or PAGE_CONCEPTS_KO.get(key)
    if found is None or (intro and key not in INTROS_KO):
        raise RosettaError(f"rosetta: the page shows concept {key!r}, which has no Korean in {TEXT_FILE}")
    return found[0], INTROS_KO.get(key, ""), found[1]


def words(english: str, lang: str) -> str:
    """A row's label, or a text cell, in ``lang``."""
    if lang == "en":
        return english
    found = LABELS_KO.get(english) or PAGE_LABELS_KO.get(english)
    if found is None:
        raise RosettaError(f"rosetta: the page's row text {english!r} has no Korean in {TEXT_FILE}")
    return found
