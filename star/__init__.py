"""star: STaR-style self-improvement of language models."""

__version__ = "0.1.0"
