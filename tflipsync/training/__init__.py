"""Training: flags/config (config.py), losses, the per-recipe steps (tasks.py) and the loop."""
