"""Reading one web page for the model (the read_url tool), safely: public addresses only, bounded."""

from services.web.addresses import AddressPolicy
from services.web.errors import PageRefused, PageUnreadable
from services.web.fetch import Page, PageFetcher

__all__ = ["AddressPolicy", "Page", "PageFetcher", "PageRefused", "PageUnreadable"]
