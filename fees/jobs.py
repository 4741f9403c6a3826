"""Fee-collection background work: expiry of unpaid requests (more is added by the gateways)."""

from core import jobs
from fees.payments import expire_overdue

jobs.register_sweeper(expire_overdue)
