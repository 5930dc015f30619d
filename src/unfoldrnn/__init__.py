"""unfoldrnn: deep-unfolding recurrent networks, their baselines, tasks and generalization bounds."""

__version__ = "0.1.0"
