"""Helpers shared by the evaluation and single-study attack jobs."""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medadv_desktop.engine.hashing import sha256_file
from medadv_desktop.engine.metrics import perturbation_measures, true_class_confidence
from medadv_desktop.engine.results import ExamplePanel, ModelSummary, SampleRecord
from medadv_desktop.engine.serialization import from_jsonable

EXAMPLE_MAX_SIDE = 128


def model_device(model: torch.nn.Module) -> torch.device:
    dev = getattr(model, "device", None)
    if isinstance(dev, torch.device):
        return dev
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def card_of(model: torch.nn.Module):
    return getattr(model, "card", None)


def logits_batched(model: torch.nn.Module, x: torch.Tensor, batch_size: int, cancel=None) -> torch.Tensor:
    """Logits (N, K) on the CPU, eval mode, no gradients (mode restored)."""
    from medadv_desktop.engine.metrics import as_two_class_logits

    dev = model_device(model)
    was_training = model.training
    model.eval()
    try:
        parts = []
        with torch.no_grad():
            for i in range(0, x.shape[0], max(1, batch_size)):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                parts.append(as_two_class_logits(model(x[i:i + batch_size].to(dev))).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts, dim=0)


def make_records(*, sample_ids: Sequence[str], y: torch.Tensor, attack: str, eps: float,
                 clean: torch.Tensor, adv: torch.Tensor, clean_logits: torch.Tensor,
                 adv_logits: torch.Tensor, success: torch.Tensor, queries: torch.Tensor | None,
                 time_s: float, native_per_unit: np.ndarray | None) -> list[SampleRecord]:
    """SampleRecords for one attacked batch (every sample was correct on clean input,
    or the attack is counted anyway, e.g. in a single-study attack)."""
    m = perturbation_measures(clean.cpu(), adv.detach().cpu(), native_per_unit)
    y = y.cpu()
    cc = true_class_confidence(clean_logits.cpu(), y)
    ac = true_class_confidence(adv_logits.detach().cpu(), y)
    cp = clean_logits.argmax(dim=1).cpu().tolist()
    ap = adv_logits.detach().argmax(dim=1).cpu().tolist()
    n = len(sample_ids)
    out = []
    for i in range(n):
        psnr = float(m.psnr[i])
        out.append(SampleRecord(
            sample_id=sample_ids[i], true_label=int(y[i]), attack=attack, eps=float(eps),
            clean_pred=int(cp[i]), adv_pred=int(ap[i]), clean_conf_true=float(cc[i]),
            adv_conf_true=float(ac[i]), success=bool(success[i]),
            linf=float(m.linf[i]), l2=float(m.l2[i]), l0=float(m.l0[i]),
            linf_native=None if m.linf_native is None else float(m.linf_native[i]),
            l2_native=None if m.l2_native is None else float(m.l2_native[i]),
            psnr=psnr if np.isfinite(psnr) else None, ssim=float(m.ssim[i]),
            queries=int(queries[i]) if queries is not None else 0, time_s=float(time_s) / max(1, n)))
    return out


def unattacked_record(sample_id: str, true_label: int, attack: str, eps: float, clean_pred: int,
                      clean_conf: float) -> SampleRecord:
    """Record of a sample that was wrong on clean input: not attacked, success None."""
    return SampleRecord(sample_id=sample_id, true_label=int(true_label), attack=attack, eps=float(eps),
                        clean_pred=int(clean_pred), adv_pred=int(clean_pred), clean_conf_true=float(clean_conf),
                        adv_conf_true=float(clean_conf), success=None, linf=0.0, l2=0.0, l0=0.0,
                        linf_native=0.0, l2_native=0.0, psnr=None, ssim=1.0, queries=0, time_s=0.0)


def _small_2d(img: torch.Tensor) -> list:
    """(C, H, W) [0, 1] -> (h, w) nested list, luminance, at most 128 px a side (area resampling)."""
    img = img.detach().float().cpu()
    if img.ndim == 4:          # (C, D, H, W): middle slice of a volume
        img = img[:, img.shape[1] // 2]
    if img.shape[0] == 3:
        img = (img * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    else:
        img = img[:1]
    h, w = img.shape[-2:]
    scale = min(1.0, EXAMPLE_MAX_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
        img = F.interpolate(img[None], size=size, mode="area")[0]
    return np.round(img[0].clamp(0, 1).numpy().astype(np.float64), 4).tolist()


def example_panel(record: SampleRecord, clean: torch.Tensor, adv: torch.Tensor,
                  adv_conf: float, clean_conf: float, native_per_unit: float | None) -> ExamplePanel:
    return ExamplePanel(
        sample_id=record.sample_id, attack=record.attack, eps=record.eps, true_label=record.true_label,
        clean_pred=record.clean_pred, adv_pred=record.adv_pred, clean_conf=float(clean_conf),
        adv_conf=float(adv_conf), original=_small_2d(clean), adversarial=_small_2d(adv),
        native_per_unit=None if native_per_unit is None or not np.isfinite(native_per_unit) else float(native_per_unit))


def software_versions() -> dict[str, str]:
    from medadv_desktop import __version__

    versions = {"medadv": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__}
    import sys
    timm = sys.modules.get("timm")
    if timm is not None:
        versions["timm"] = getattr(timm, "__version__", "")
    return versions


def utc_now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def model_summary(model: torch.nn.Module) -> ModelSummary:
    """Card summary without paths: name, architecture, format, sha256, input size, intensity..."""
    card = card_of(model)
    if card is None:
        n_params = sum(p.numel() for p in model.parameters())
        return ModelSummary(name=type(model).__name__, format="module", parameters=int(n_params))
    d = card.to_dict()
    d.pop("provenance", None)
    summary = from_jsonable(ModelSummary, d)
    if not summary.sha256:
        try:
            if card.path is not None and card.weights_path.is_file():
                summary.sha256 = sha256_file(card.weights_path)
        except OSError:  # a missing hash must not stop an evaluation
            pass
    summary.intensity_description = card.intensity.describe()
    if card.provenance:
        summary.parent_sha256 = card.provenance.get("parent_sha256")
    return summary


def eps_in_native(card, eps: float) -> float | None:
    """eps in native units for a fixed (window) mapping; None for per-image mappings."""
    npu = card.intensity.native_per_unit() if card is not None else None
    return None if npu is None else float(eps) * npu
