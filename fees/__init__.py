"""Fee schedule, payment requests and their state machine, gateway adapters, reconciliation."""
