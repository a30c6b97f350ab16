"""Fair shares of what is costly, without Discord: per-member rate limit and daily token quotas
(admission.py, buckets.py, quotas.py), and the fair, bounded gate in front of each model provider
and search engine (fair.py). `Requester` says whom a request is for and by when it must be done."""

from services.limits.admission import MemberLimits
from services.limits.buckets import MemberBuckets
from services.limits.errors import LimitReached, QuotaExceeded
from services.limits.fair import FairGate, GateTimeout
from services.limits.quotas import QuotaStore, QuotaSummary, TokenQuotas
from services.limits.requester import Requester

__all__ = ["FairGate", "GateTimeout", "LimitReached", "MemberBuckets", "MemberLimits", "QuotaExceeded",
           "QuotaStore", "QuotaSummary", "Requester", "TokenQuotas"]
