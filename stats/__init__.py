"""The figures provinces report monthly: dossiers received and resolved, on time or late, by post, fees and receipts."""
