"""Training and evaluation code, used only by scripts/train_tiny_shapes.py, scripts/evaluate_tiny_shapes.py and
their tests: the app never imports it (the runtime, including the shapes renderer and detector it shares, lives
in playground/)."""
