"""Reading an import's source file (bounded, JSON only) and mapping its environments
to Verdict's."""

from __future__ import annotations

from pathlib import Path

import pytest

from verdict.server.flags.imports.reading import MAX_FILE_BYTES, SourceError, read_json
from verdict.server.flags.imports.targets import map_environments


def test_a_json_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text('{"features": {}}')
    assert read_json(str(path)) == {"features": {}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ("{'features': 1}", "is not valid JSON"),
        ('{"a": NaN}', "is not valid JSON"),
        ("[" * 2000 + "]" * 2000, "is not valid JSON"),
        ('{"n": 1e400}', "is not valid JSON"),
    ],
)
def test_what_is_not_json_is_refused_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SourceError, match=f"^{path}: {message}"):
        read_json(str(path))


def test_a_file_over_the_bound_is_refused_without_parsing_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk written
    with pytest.raises(SourceError, match="larger than 52,428,800 bytes"):
        read_json(str(path))


def test_a_file_at_the_bound_is_read(tmp_path: Path) -> None:
    path = tmp_path / "edge.json"
    path.write_text("[" + " " * 100 + "]")
    assert read_json(str(path), max_bytes=102) == []
    with pytest.raises(SourceError, match="larger than 101 bytes"):
        read_json(str(path), max_bytes=101)


@pytest.mark.parametrize("name", ["missing.json", ""])
def test_a_path_that_cannot_be_read_is_named(tmp_path: Path, name: str) -> None:
    path = tmp_path / name  # "" names the directory itself
    with pytest.raises(SourceError, match="cannot be read"):
        read_json(str(path))


def test_same_names_without_options() -> None:
    assert map_environments(["production", "staging"], []) == (
        {"production": "production", "staging": "staging"},
        [],
    )


def test_explicit_mapping_leaves_out_the_rest_and_says_so() -> None:
    mapping, notes = map_environments(["production", "staging"], ["production=prod"])
    assert mapping == {"production": "prod"}
    assert notes == ["environment 'staging' of the file not imported (not named by --environment)"]


def test_a_bare_name_of_the_file_maps_to_the_same_name() -> None:
    mapping, notes = map_environments(["production", "staging", "dev"], ["production", "staging"])
    assert mapping == {"production": "production", "staging": "staging"}
    assert len(notes) == 1


def test_a_bare_target_takes_the_only_environment() -> None:
    assert map_environments([None], ["production"]) == ({None: "production"}, [])
    assert map_environments(["dev"], ["development"]) == ({"dev": "development"}, [])


@pytest.mark.parametrize(
    ("sources", "options", "message"),
    [
        ([None], [], "holds one unnamed environment"),
        (["a", "b"], ["prod"], "holds 2 environments"),
        (["a"], ["b=prod"], "has no environment 'b'"),
        (["a", "b"], ["a=prod", "b=prod"], "several source environments go to prod"),
        (["a"], ["a=prod", "a=qa"], "'a' is mapped twice"),
        (["a"], ["a="], "name a Verdict environment"),
        (["a"], ["x"] * 101, "at most 100"),
    ],
)
def test_options_that_do_not_fit_are_refused(
    sources: list[str | None], options: list[str], message: str
) -> None:
    with pytest.raises(SourceError, match="--environment") as raised:
        map_environments(sources, options)
    assert message in str(raised.value)
