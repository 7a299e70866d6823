from pathlib import Path

import pytest

from salesmigo.config import SettingsError, load_settings, unknown_variables


def test_defaults_put_sqlite_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SALESMIGO_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'salesmigo.db'}"
    assert settings.matching_for("sface").threshold == 1.0


def test_match_threshold_overrides_only_the_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESMIGO_MATCH_THRESHOLD", "0.9")
    settings = load_settings()
    assert settings.matching_for("sface").threshold == 0.9
    assert settings.matching_for("dlib").threshold == 0.5


def test_one_nested_variable_keeps_the_other_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESMIGO_RECOGNITION__DLIB__THRESHOLD", "0.45")
    matching = load_settings().matching_for("dlib")
    assert (matching.threshold, matching.margin) == (0.45, 0.04)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SALESMIGO_PORT", "eighty"),
        ("SALESMIGO_PORT", "70000"),
        ("SALESMIGO_MATCH_THRESHOLD", "-1"),
        ("SALESMIGO_DATABASE_URL", "mysql://localhost/db"),
        ("SALESMIGO_VISION__MIN_FACE_SIZE", "2"),
    ],
)
def test_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_unknown_variables_are_typos() -> None:
    environ = {
        "SALESMIGO_PORT": "1",
        "SALESMIGO_VISION__MIN_FACE_SIZE": "40",
        "SALESMIGO_MATCH_THRESHLD": "1",
        "SALESMIGO_VISION__NOPE": "1",
        "SALESMIGO_PORT__X": "1",
        "PATH": "/bin",
    }
    assert unknown_variables(environ) == [
        "SALESMIGO_MATCH_THRESHLD",
        "SALESMIGO_PORT__X",
        "SALESMIGO_VISION__NOPE",
    ]
