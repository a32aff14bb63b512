"""Python SDK: in-process evaluation against a configuration snapshot."""

__all__: list[str] = []
