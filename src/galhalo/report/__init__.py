"""Figures and reports (matplotlib, HTML)."""
