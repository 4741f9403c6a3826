"""Fee schedule, payment requests and their state machine, gateway adapters, reconciliation."""

from fees import config as _config  # noqa: F401  (registers the HCC_* settings of fee collection)
