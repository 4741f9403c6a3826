"""E-receipts: numbering, rendering, signing, storage, verification, cancellation and delivery."""
