"""What to run, declared once: sweep and trial specs, their settings, the reports' presets, the
optimizer and augmentation tables."""
