"""vulntrail: deduplicated container-vulnerability findings with their whole trail."""

__version__ = "0.1.0"
