"""Dark reading-room theme.

Radiology reading rooms are dim; a bright UI next to a grey-scale image
hurts contrast perception. The palette keeps chrome dark and neutral
(no coloured tint near the image), with one restrained accent colour for
selection and focus, and an amber/red pair reserved for warnings and PHI.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

#: Base colours (hex), shared with pyqtgraph backgrounds and table delegates.
BACKGROUND = "#15171a"
PANEL = "#1d2024"
PANEL_ALT = "#23272c"
BORDER = "#34393f"
TEXT = "#d7dbe0"
TEXT_DIM = "#8a929b"
ACCENT = "#3d8fd1"
WARNING = "#e0a030"
DANGER = "#d9534f"
SUCCESS = "#4caf7a"
VIEWER_BACKGROUND = "#000000"

#: Before/after colours used by the prediction chart and plots.
BEFORE_COLOR = "#5fa8e8"
AFTER_COLOR = "#e8875f"

STYLESHEET = f"""
QWidget {{ color: {TEXT}; font-size: 9pt; }}
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QMainWindow::separator {{ background: {BORDER}; width: 3px; height: 3px; }}
QMainWindow::separator:hover {{ background: {ACCENT}; }}
QDockWidget {{ titlebar-close-icon: none; }}
QDockWidget::title {{
    background: {PANEL_ALT}; padding: 4px 6px; border-bottom: 1px solid {BORDER};
    font-weight: bold; text-transform: uppercase;
}}
QToolBar {{ background: {PANEL}; border-bottom: 1px solid {BORDER}; spacing: 2px; padding: 2px; }}
QToolButton {{ padding: 3px 6px; border-radius: 3px; }}
QToolButton:hover {{ background: {PANEL_ALT}; }}
QToolButton:checked {{ background: #2a3f52; }}
QMenuBar {{ background: {PANEL}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {ACCENT}; color: white; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; }}
QStatusBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; color: {TEXT_DIM}; }}
QStatusBar QLabel {{ color: {TEXT}; padding: 0 6px; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 4px; margin-top: 10px; padding-top: 4px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 3px; color: {TEXT_DIM}; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox, QPlainTextEdit, QTextEdit {{
    background: {BACKGROUND}; border: 1px solid {BORDER}; border-radius: 3px; padding: 2px 4px;
    selection-background-color: {ACCENT};
}}
QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QLineEdit[invalid="true"] {{ border-color: {DANGER}; }}
QComboBox QAbstractItemView {{ background: {PANEL}; selection-background-color: {ACCENT}; }}
QPushButton {{
    background: {PANEL_ALT}; border: 1px solid {BORDER}; border-radius: 3px; padding: 4px 12px;
}}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:disabled {{ color: {TEXT_DIM}; }}
QPushButton#primary {{ background: #24598a; border-color: {ACCENT}; font-weight: bold; }}
QPushButton#primary:disabled {{ background: {PANEL_ALT}; border-color: {BORDER}; }}
QPushButton#danger {{ background: #5a2424; border-color: {DANGER}; }}
QPushButton#danger:disabled {{ background: {PANEL_ALT}; border-color: {BORDER}; }}
QTableView, QTreeView, QListView, QTableWidget, QListWidget {{
    background: {PANEL}; alternate-background-color: {PANEL_ALT}; border: 1px solid {BORDER};
    gridline-color: {BORDER}; selection-background-color: #2d5f8c; selection-color: white;
}}
QHeaderView::section {{
    background: {PANEL_ALT}; color: {TEXT_DIM}; border: none; border-right: 1px solid {BORDER};
    border-bottom: 1px solid {BORDER}; padding: 3px 5px;
}}
QTabWidget::pane {{ border: 1px solid {BORDER}; top: -1px; }}
QTabBar::tab {{ background: {PANEL}; padding: 4px 10px; border: 1px solid {BORDER}; border-bottom: none; }}
QTabBar::tab:selected {{ background: {PANEL_ALT}; color: white; border-top: 2px solid {ACCENT}; }}
QProgressBar {{
    background: {BACKGROUND}; border: 1px solid {BORDER}; border-radius: 3px; text-align: center; height: 14px;
}}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QScrollBar:vertical, QScrollBar:horizontal {{ background: {BACKGROUND}; width: 10px; height: 10px; }}
QScrollBar::handle {{ background: {BORDER}; border-radius: 4px; min-height: 20px; min-width: 20px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QCheckBox::indicator, QListView::indicator, QTreeView::indicator {{
    width: 13px; height: 13px; border: 1px solid {TEXT_DIM}; border-radius: 2px; background: {BACKGROUND};
}}
QCheckBox::indicator:checked, QListView::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: {BORDER}; }}
QLabel#banner {{ background: #4a3410; color: #ffd89a; padding: 3px 8px; border-radius: 3px; font-weight: bold; }}
QLabel#badge_trained {{ background: #173d2c; color: #a8f0c8; padding: 2px 8px; border-radius: 3px; font-weight: bold; }}
QLabel#heading {{ font-weight: bold; color: white; }}
QLabel#run_reason {{ color: {WARNING}; }}
QLabel#dim {{ color: {TEXT_DIM}; }}
QLabel#error {{ color: {DANGER}; }}
QToolTip {{ background: {PANEL_ALT}; color: {TEXT}; border: 1px solid {BORDER}; }}
"""


def apply_theme(app: QApplication) -> None:
    """Apply the dark palette and style sheet to the whole application."""
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.Window: PANEL, QPalette.WindowText: TEXT, QPalette.Base: BACKGROUND,
        QPalette.AlternateBase: PANEL_ALT, QPalette.ToolTipBase: PANEL_ALT, QPalette.ToolTipText: TEXT,
        QPalette.Text: TEXT, QPalette.Button: PANEL_ALT, QPalette.ButtonText: TEXT,
        QPalette.BrightText: "#ffffff", QPalette.Highlight: ACCENT, QPalette.HighlightedText: "#ffffff",
        QPalette.Link: ACCENT, QPalette.PlaceholderText: TEXT_DIM,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.Text, QPalette.WindowText, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor(TEXT_DIM))
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options; called once at start-up before any plot exists.

    ``imageAxisOrder='row-major'`` makes a numpy (rows, cols) array display the
    right way round (row 0 at the top with an inverted-Y view box).
    """
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", background=PANEL, foreground=TEXT,
                        antialias=True)
