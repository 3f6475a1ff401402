"""ganctl: search, train, compress, evaluate and sample small, high-quality GANs."""

__version__ = "0.1.0"
