"""Statistics engine over sufficient statistics: pure numpy/scipy, no I/O."""

__all__: list[str] = []
