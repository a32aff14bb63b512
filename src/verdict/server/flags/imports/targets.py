"""Which Verdict environment each environment of the source file is imported into.

``--environment`` options name them: ``SOURCE=TARGET`` maps one source environment; a
bare ``NAME`` maps the source environment of that name to Verdict's of the same name,
or, when the file holds one environment only, that one to ``NAME`` (required for files
that hold one unnamed environment: an SDK payload, Unleash client features). Without options, every
source environment goes to the Verdict environment of the same key. Source
environments left out of explicit options are not imported, and said so.
"""

from __future__ import annotations

from collections.abc import Sequence

from verdict.server.flags.imports.reading import SourceError

__all__ = ["EnvironmentMap", "map_environments"]

EnvironmentMap = dict[str | None, str]
"""Source environment (``None``: the file's one unnamed environment) -> Verdict key."""

_MAX_OPTIONS = 100


def map_environments(
    sources: Sequence[str | None], options: Sequence[str]
) -> tuple[EnvironmentMap, list[str]]:
    """The mapping and a note per source environment left out; raises
    :class:`SourceError` (naming ``--environment``) when the options do not fit."""
    if len(options) > _MAX_OPTIONS:
        raise SourceError(f"--environment: given {len(options)} times; at most {_MAX_OPTIONS}")
    named = [source for source in sources if source is not None]
    if not options:
        if None in sources or not sources:
            raise SourceError(
                "--environment: this file holds one unnamed environment; name the Verdict "
                "environment to import it into (e.g. --environment production)"
            )
        return {source: source for source in named}, []
    mapping: EnvironmentMap = {}
    for option in options:
        source: str | None
        if "=" in option:
            source, _, target = (part.strip() for part in option.partition("="))
            if source not in named:
                listed = ", ".join(named) or "none: it holds one unnamed environment"
                raise SourceError(
                    f"--environment {option}: the file has no environment {source!r} "
                    f"(it has {listed})"
                )
        elif option.strip() in named:
            source = target = option.strip()
        else:
            target = option.strip()
            if len(sources) != 1:
                raise SourceError(
                    f"--environment {option}: the file holds {len(sources)} environments "
                    f"({', '.join(str(s) for s in sources)}); write SOURCE=TARGET"
                )
            source = sources[0]
        if not target:
            raise SourceError(f"--environment {option}: name a Verdict environment")
        if source in mapping:
            raise SourceError(f"--environment {option}: {source!r} is mapped twice")
        mapping[source] = target
    targets = list(mapping.values())
    doubled = sorted({target for target in targets if targets.count(target) > 1})
    if doubled:
        raise SourceError(
            f"--environment: several source environments go to {', '.join(doubled)}; "
            "each Verdict environment takes one"
        )
    left_out = [
        f"environment {source!r} of the file not imported (not named by --environment)"
        for source in named
        if source not in mapping
    ]
    return mapping, left_out
