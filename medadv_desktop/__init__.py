"""MedAdv Desktop: adversarial robustness testing for medical image classifiers."""

__version__ = "0.1.0"
