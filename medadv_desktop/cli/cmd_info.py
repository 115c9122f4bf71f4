"""`medadv info PATH`: what MedAdv sees in a file or folder, without PHI.

Prints, for every study found: pseudonym, format, modality (and how it was
found: header, inferred with a confidence, or ``--modality``), series
description, study year (full date with ``--show-phi``), body part, shape,
slices, volumes of a 4-D volume and its time axis, spacing and slice
thickness (mm), slice positions, the patient coordinate frame, units, window
presets, orientation labels, the slice a viewer opens on, and a burned-in
annotation warning; then every file that could not be read with the reason.
``--tags`` lists the header (PHI values hidden unless ``--show-phi``);
``--json`` prints the same as JSON.
Exit status 0 when at least one study loaded, 2 when none did.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medadv_desktop.cli.options import non_negative_int, path_arg
from medadv_desktop.cli.study_options import add_modality_option

PHI_MASK = "<hidden: identifying>"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="show what MedAdv reads in a DICOM/NIfTI/image file or folder (no PHI)",
        description="Show modality, shape, spacing, units and window presets of the studies "
                    "in PATH, and why any file could not be read. Identifying header values "
                    "are hidden unless --show-phi is given.")
    p.add_argument("path", metavar="PATH", type=path_arg,
                   help="a file (DICOM, .nii/.nii.gz, PNG/JPEG/TIFF) or a folder")
    p.add_argument("--volume", type=non_negative_int, default=None, metavar="N",
                   help="volume of a 4-D NIfTI to read (0-based; default 0)")
    p.add_argument("--tags", action="store_true", help="list the header of each study's first file")
    p.add_argument("--show-phi", action="store_true",
                   help="show identifying header values (patient name, IDs, dates, UIDs)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_modality_option(p)
    p.set_defaults(func=run)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) if root.is_dir() else path.name
    except ValueError:
        return path.name


def _study_dict(study, args) -> dict:
    info = study.summary()
    display = study.display_info(show_phi=args.show_phi)
    ev = study.modality_evidence
    positions = study.slice_positions()
    info.update({
        "description": study.description,
        "slices": study.n_slices,
        "orientation": list(study.orientation) if study.orientation else None,
        "files": len(study.source_paths),
        "modality_evidence": {"source": ev.source, "confidence": ev.confidence, "level": ev.level,
                              "reasons": list(ev.reasons)} if ev else None,
        "series_description": display.series_description,
        "study_date": display.study_date,
        "body_part": display.body_part,
        "slice_positions_mm": [round(float(v), 3) for v in positions] if positions is not None else None,
        "default_slice_reason": study.default_slice_reason,
        "burned_in_reason": study.burned_in_reason if study.burned_in_annotation else "",
    })
    if args.tags:
        info["tags"] = [
            {"tag": e.tag, "keyword": e.keyword, "vr": e.vr, "depth": e.depth, "phi": e.is_phi,
             "value": e.value if (args.show_phi or not e.is_phi) else PHI_MASK}
            for e in study.header
        ]
    return info


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.io import open_path, open_study
    from medadv_desktop.engine.serialization import dumps

    root = Path(args.path)
    report = open_path(root, volume_index=args.volume, modality=args.modality)
    studies = [_study_dict(s, args) for s in report.studies]
    failures = [{"file": _rel(p, root), "reason": r} for p, r in report.failures]
    if args.json:
        print(dumps({"path": root.name, "studies": studies, "failures": failures}))
    else:
        _print_text(report, studies, failures, args)
    if not report.studies:
        open_study(root, volume_index=args.volume, modality=args.modality)  # raises the StudyError that explains why
    return 0


def _fmt_spacing(spacing) -> str:
    return " x ".join(f"{float(s):.4g}" for s in spacing) + " mm (slice x row x col)"


def _print_text(report, studies: list[dict], failures: list[dict], args) -> None:
    n = len(studies)
    print(f"{n} stud{'y' if n == 1 else 'ies'} found" + (f", {len(failures)} file(s) not read" if failures else ""))
    for study, info in zip(report.studies, studies):
        print()
        print(f"Study {info['study']}  ({info['description']})")
        print(f"  format:      {info['format']}")
        ev = study.modality_evidence
        print(f"  modality:    {ev.describe() if ev is not None else info['modality']}")
        for key, label in (("series_description", "series:"), ("study_date", "study date:"), ("body_part", "body part:")):
            if info.get(key):
                print(f"  {label:<13}{info[key]}")
        print(f"  shape:       {' x '.join(str(s) for s in info['shape'])}")
        print(f"  slices:      {info['slices']}  (from {info['files']} file{'s' if info['files'] != 1 else ''})")
        if study.n_volumes > 1:
            axis = study.volume_axis.describe() if study.volume_axis is not None else f"{study.n_volumes} volumes"
            print(f"  volumes:     {axis}; showing volume {study.volume_index} (0-based; --volume N)")
        print(f"  spacing:     {_fmt_spacing(study.spacing)}" + ("" if study.spacing_known
                                                                    else "  (not in the file: pixels)"))
        if study.slice_thickness is not None:
            print(f"  thickness:   {study.slice_thickness:.4g} mm")
        positions = study.slice_positions()
        if positions is not None:
            first, last = float(positions[0]), float(positions[-1])
            span = f"{first:.4g} mm" if len(positions) == 1 else f"{first:.4g} to {last:.4g} mm"
            print(f"  positions:   {span} along the slice normal ({study.coordinate_frame} patient coordinates)")
        print(f"  units:       {info['units'] or '(unspecified)'}")
        if study.presets:
            presets = ", ".join(f"{p.name} {p.center:g}/{p.width:g}" for p in study.presets)
        else:
            auto = study.default_preset()
            presets = f"(none in file; auto {auto.center:.4g}/{auto.width:.4g})"
        print(f"  presets:     {presets}  [centre/width]")
        if study.orientation:
            left, right, top, bottom = study.orientation
            print(f"  orientation: left {left}, right {right}, top {top}, bottom {bottom}")
        if study.n_slices > 1:
            print(f"  opens on:    slice {study.default_slice} ({study.default_slice_reason})")
        if study.burned_in_annotation:
            print(f"  WARNING:     burned-in annotation possible: {study.burned_in_reason}")
        if study.synthetic:
            print("  synthetic:   yes (synthetic demo data, not for clinical use)")
        if args.show_phi:
            shown = [e for e in study.header if e.is_phi and e.depth == 0 and e.keyword in
                     ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyDate")]
            for e in shown:
                print(f"  {e.keyword + ':':<13}{e.value}")
        if args.tags:
            print("  header:")
            for tag in info.get("tags", []):
                indent = "  " * tag["depth"]
                phi = " [PHI]" if tag["phi"] else ""
                print(f"    {indent}{tag['tag']:<11} {tag['keyword']:<36} {tag['vr']:<2} {tag['value']}{phi}")
    if failures:
        print()
        print("Files not read:")
        for f in failures:
            print(f"  {f['file']}: {f['reason']}")
