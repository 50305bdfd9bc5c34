"""Full fine-tuning: every parameter trains; the head may have its own LR."""

from warmstart.strategies.base import Strategy


class Full(Strategy):
    pass
