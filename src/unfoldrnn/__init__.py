"""unfoldrnn: deep-unfolding RNNs, their baselines, tasks and generalization bounds."""

__version__ = "0.1.0"
