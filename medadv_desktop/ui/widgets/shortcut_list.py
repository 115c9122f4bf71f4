"""The viewer's keyboard and mouse conventions in one list (the Help ▸ Keyboard Shortcuts table reads it)."""

from __future__ import annotations

#: (keys, what they do); the viewer's own keys act when the image has focus (click it once).
VIEWER_SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("1 – 9", "Window preset 1 – 9 (W/L combo order)"),
    ("↑ / ↓, PgUp / PgDn, mouse wheel", "Previous / next slice"),
    ("Home / End", "First / last slice"),
    ("Right drag", "Window: right = wider, left = narrower; down = higher level (darker), up = lower level "
                   "(OHIF / Cornerstone direction)"),
    ("Left drag", "Pan"),
    ("Ctrl + wheel", "Zoom"),
    ("F", "Fit to window"),
    ("Space", "Flicker: alternate original / adversarial (again to stop)"),
    ("Ctrl+1 – Ctrl+4", "View: original, adversarial, difference, side by side"),
    ("H", "Perturbation overlay (opt-in)"),
    ("F1", "This list"),
)
