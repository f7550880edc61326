"""orderstatus: self-hosted order status pages."""

__version__ = "0.1.0"
