"""What every package shares: settings, database, money, clock, audit log, jobs, notifications."""
