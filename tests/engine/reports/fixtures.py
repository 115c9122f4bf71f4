"""Realistic EvaluationResults built in code for the report tests.

Numbers are internally consistent: the summary rows, worst-case rows and
transition matrices are aggregated from the per-sample records, and the
example panels use the real pixels of pydicom's CT_small.dcm.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from medadv_desktop.engine.results import (
    WORST_CASE,
    AttackInfo,
    AttackRow,
    BeforeAfterResult,
    BeforeAfterRow,
    ClassMetrics,
    DatasetSummary,
    EvaluationResult,
    ExamplePanel,
    IntensitySummary,
    ModelSummary,
    Provenance,
    SampleRecord,
    SanityFlag,
    TrainingSummary,
)

CLASSES = ["no_finding", "lesion"]
ATTACKS = ["fgsm", "pgd", "square"]
EPS = [1 / 255, 2 / 255]
WINDOW_WIDTH = 400.0   # HU; eps_native = eps * 400


def study_pseudonym(*parts: str) -> str:
    """The io helper's pseudonym when it exists; else the same idea (salted hash)."""
    try:
        from medadv_desktop.engine.io.deid import pseudonym
    except ImportError:
        salt = os.environ.get("MEDADV_PSEUDONYM_SALT", "medadv-tests")
        digest = hashlib.sha256((salt + "|" + "|".join(parts)).encode()).hexdigest()
        return "STUDY-" + digest[:6].upper()
    return pseudonym(*parts)


def ct_small_unit(size: int = 64) -> np.ndarray:
    """CT_small.dcm in HU, window 40/400 -> [0, 1], downsampled to size x size."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    unit = np.clip((hu - (40 - 200)) / 400.0, 0, 1)
    step = max(1, unit.shape[0] // size)
    return unit[::step, ::step][:size, :size]


def _aggregate(samples, n_classes, attack, eps, clean_correct):
    recs = [s for s in samples if s.attack == attack and abs(s.eps - eps) < 1e-12]
    n = len(recs)
    robust = sum(s.adv_pred == s.true_label for s in recs) / n
    attacked = [s for s in recs if s.success is not None]
    success = sum(bool(s.success) for s in attacked) / len(attacked) if attacked else None
    trans = [[0] * n_classes for _ in range(n_classes)]
    for s in recs:
        trans[s.true_label][s.adv_pred] += 1

    def mean(name):
        vals = [getattr(s, name) for s in attacked if getattr(s, name) is not None]
        return float(np.mean(vals)) if vals else None

    queries = [s.queries for s in attacked]
    return AttackRow(
        attack=attack, eps=eps, eps_native=eps * WINDOW_WIDTH, n_samples=n, robust_accuracy=robust,
        attack_success_rate=success, mean_linf=mean("linf"), mean_l2=mean("l2"), mean_l0=mean("l0"),
        mean_linf_native=mean("linf_native"), mean_l2_native=mean("l2_native"), mean_psnr=mean("psnr"),
        mean_ssim=mean("ssim"),
        mean_conf_drop=float(np.mean([s.clean_conf_true - s.adv_conf_true for s in attacked])),
        mean_queries=float(np.mean(queries)), median_queries=float(np.median(queries)),
        time_s=float(sum(s.time_s for s in recs)), transitions=trans)


def make_result(n_samples: int = 12, *, synthetic: bool = True, seed: int = 0,
                sample_prefix: str | None = None) -> EvaluationResult:
    rng = np.random.default_rng(seed)
    prefix = sample_prefix or study_pseudonym("1.2.826.0.1.3680043.8.498.1")
    labels = [i % 2 for i in range(n_samples)]
    clean_pred = list(labels)
    clean_pred[1] = 0          # one lesion missed
    clean_pred[4] = 1          # one false positive
    clean_conf = [float(rng.uniform(0.75, 0.98)) for _ in labels]
    strength = {"fgsm": 0.35, "pgd": 0.55, "square": 0.45}
    queries = {"fgsm": 1, "pgd": 10, "square": 0}
    samples: list[SampleRecord] = []
    for eps in EPS:
        for attack in ATTACKS:
            p_fool = strength[attack] * (eps * 255) / 2
            for i, y in enumerate(labels):
                correct = clean_pred[i] == y
                fooled = correct and (rng.uniform() < p_fool or (attack == "pgd" and eps == EPS[-1] and i < 8))
                adv_pred = (1 - y) if fooled else clean_pred[i]
                adv_conf_true = float(rng.uniform(0.1, 0.45)) if fooled else clean_conf[i] - float(rng.uniform(0, .1))
                linf = eps if attack != "square" else eps
                q = queries[attack] if attack != "square" else int(rng.integers(5, 300))
                samples.append(SampleRecord(
                    sample_id=f"{prefix}/slice-{i:03d}", true_label=y, attack=attack, eps=eps,
                    clean_pred=clean_pred[i], adv_pred=adv_pred, clean_conf_true=clean_conf[i],
                    adv_conf_true=adv_conf_true, success=(fooled if correct else None),
                    linf=linf, l2=float(eps * rng.uniform(20, 40)), l0=float(rng.uniform(0.6, 1.0)),
                    linf_native=linf * WINDOW_WIDTH, l2_native=float(eps * WINDOW_WIDTH * 30),
                    psnr=float(rng.uniform(42, 50) - eps * 255), ssim=float(rng.uniform(0.95, 0.995) - eps),
                    queries=q, time_s=float(rng.uniform(0.01, 0.2))))
    clean_correct = [clean_pred[i] == y for i, y in enumerate(labels)]
    rows = []
    for eps in EPS:
        for attack in ATTACKS:
            rows.append(_aggregate(samples, 2, attack, eps, clean_correct))
        robust_all = []
        trans = [[0, 0], [0, 0]]
        for i, y in enumerate(labels):
            recs = [s for s in samples if s.sample_id.endswith(f"{i:03d}") and abs(s.eps - eps) < 1e-12]
            ok = all(s.adv_pred == y for s in recs)
            robust_all.append(ok)
            worst = next((s.adv_pred for s in recs if s.adv_pred != y), recs[0].adv_pred)
            trans[y][worst] += 1
        n_correct = sum(clean_correct)
        fooled = sum(1 for i in range(n_samples) if clean_correct[i] and not robust_all[i])
        rows.append(AttackRow(attack=WORST_CASE, eps=eps, eps_native=eps * WINDOW_WIDTH, n_samples=n_samples,
                              robust_accuracy=sum(robust_all) / n_samples,
                              attack_success_rate=fooled / n_correct, transitions=trans))
    per_class = []
    for c, name in enumerate(CLASSES):
        pos = [i for i, y in enumerate(labels) if y == c]
        neg = [i for i, y in enumerate(labels) if y != c]
        per_class.append(ClassMetrics(class_name=name, index=c, n=len(pos),
                                      sensitivity=sum(clean_pred[i] == c for i in pos) / len(pos),
                                      specificity=sum(clean_pred[i] != c for i in neg) / len(neg)))
    confusion = [[0, 0], [0, 0]]
    for i, y in enumerate(labels):
        confusion[y][clean_pred[i]] += 1
    clean = ct_small_unit()
    examples = []
    for k, (attack, eps) in enumerate([("fgsm", EPS[-1]), ("pgd", EPS[-1]), ("square", EPS[0])]):
        sign = np.sign(rng.standard_normal(clean.shape))
        if attack == "square":
            sign = np.repeat(np.sign(rng.standard_normal((1, clean.shape[1]))), clean.shape[0], axis=0)
        adv = np.clip(clean + eps * sign, 0, 1)
        i = k * 2
        examples.append(ExamplePanel(
            sample_id=f"{prefix}/slice-{i:03d}", attack=attack, eps=eps, true_label=labels[i],
            clean_pred=clean_pred[i], adv_pred=1 - labels[i], clean_conf=clean_conf[i], adv_conf=0.71,
            original=clean.tolist(), adversarial=adv.tolist(), native_per_unit=WINDOW_WIDTH))
    return EvaluationResult(
        model=ModelSummary(
            name="Demo EfficientNet-B0 (synthetic lesion)" if synthetic else "Chest CT nodule classifier",
            architecture="efficientnet_b0", format="timm", weights="model.safetensors",
            sha256=hashlib.sha256(b"weights").hexdigest(), input_size=[64, 64], in_chans=1,
            output="logits", intensity=IntensitySummary(mode="window", center=40, width=WINDOW_WIDTH),
            class_names=list(CLASSES), intended_use="Demonstration of MedAdv only" if synthetic else "",
            synthetic=synthetic),
        dataset=DatasetSummary(name="demo-test" if synthetic else "DS-7C1A", n_samples=n_samples,
                               counts={c: labels.count(i) for i, c in enumerate(CLASSES)}, synthetic=synthetic),
        class_names=list(CLASSES), norm="linf", eps_grid=list(EPS), eps_native=[e * WINDOW_WIDTH for e in EPS],
        units="HU", attacks=list(ATTACKS), n_samples=n_samples,
        clean_accuracy=sum(clean_correct) / n_samples,
        balanced_accuracy=float(np.mean([pc.sensitivity for pc in per_class])),
        per_class=per_class, rows=rows, samples=samples,
        flags=[SanityFlag(code="black_box_beats_white_box", title="Square beat FGSM at eps 1/255",
                          explanation="The black-box Square attack fooled 1 image that FGSM did not at the "
                                      "same budget. Trust the worst-case row, not FGSM alone.")],
        examples=examples,
        provenance=Provenance(date_utc="2025-01-01T12:00:00+00:00", seed=0, device="cpu", cascade=True,
                              software={"medadv-desktop": "0.1.0", "torch": "2.13.0"}),
        clean_confusion=confusion,
        attack_info=[AttackInfo(key, key, label, access, description, params) for key, label, access, description,
                     params in ATTACK_INFO],
    )


#: What the Attack classes would record (label, access, description, params) for the fixture's attacks.
ATTACK_INFO = [
    ("fgsm", "FGSM", "white-box", "Fast gradient sign method: one full-size step along the sign of the gradient.",
     {}),
    ("pgd", "PGD", "white-box", "Projected gradient descent: iterated gradient steps projected onto the eps-ball.",
     {"steps": 10, "alpha": 0.5 / 255}),
    ("square", "Square", "black-box", "Square attack: query-efficient black-box random search with square updates.",
     {"n_queries": 300, "p_init": 0.05}),
]


def make_before_after(result: EvaluationResult) -> BeforeAfterResult:
    rows = [BeforeAfterRow("clean", 0.0, result.clean_accuracy, result.clean_accuracy - 1 / 12)]
    for r in result.rows:
        rows.append(BeforeAfterRow(r.attack, r.eps, r.robust_accuracy, min(1.0, r.robust_accuracy + 0.25)))
    return BeforeAfterResult(rows=rows, train_eps=2 / 255, eps_grid=list(result.eps_grid),
                             attacks=list(result.attacks), norm=result.norm, units=result.units,
                             n_samples=result.n_samples, attack_info=list(result.attack_info),
                             training=TrainingSummary(method="fgsm", eps=2 / 255, epochs=3, lr=1e-3))
