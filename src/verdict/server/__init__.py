"""Verdict's HTTP server: FastAPI routers over services over the ORM."""

__all__: list[str] = []
