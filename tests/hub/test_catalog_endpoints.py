"""The saved catalog belongs to the endpoint it was listed at: a mirror's is never shown for the Hub."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from glmchat.hub import Catalog
from glmchat.hub.catalog import _catalog_cache_path, _legacy_cache_path
from glmchat.hub.hubapi import REPO
from tests.fake_hub import FakeHub, repo_files
from tests.fake_hub import use_fake_hub as _use

MIRROR_COMMIT = "b" * 40
HUB_COMMIT = "c" * 40


@pytest.fixture
def two_hubs():
    """A mirror listing two quants and a 'real' Hub listing three, on different ports."""
    mirror = FakeHub(repo_files({"Q4_K_M": 17.1, "Q8_0": 29.65}), commit=MIRROR_COMMIT)
    real = FakeHub(repo_files({"Q4_K_M": 17.1, "Q6_K": 23.0, "UD-Q4_K_XL": 16.31}), commit=HUB_COMMIT)
    with mirror, real:
        assert mirror.url != real.url
        yield mirror, real


def _offline_at(url: str, monkeypatch) -> Catalog:
    monkeypatch.setenv("HF_ENDPOINT", url)
    return Catalog.load(offline=True)


def test_each_endpoint_gets_back_its_own_saved_catalog(two_hubs, monkeypatch):
    mirror, real = two_hubs
    _use(mirror, monkeypatch)
    assert Catalog.load().commit == MIRROR_COMMIT
    _use(real, monkeypatch)
    assert Catalog.load().commit == HUB_COMMIT

    at_mirror = _offline_at(mirror.url, monkeypatch)
    assert (at_mirror.source, at_mirror.commit, sorted(at_mirror.names)) == ("cache", MIRROR_COMMIT, ["Q4_K_M", "Q8_0"])
    assert at_mirror.endpoint == mirror.url
    at_hub = _offline_at(real.url, monkeypatch)
    assert (at_hub.source, at_hub.commit, sorted(at_hub.names)) == ("cache", HUB_COMMIT, ["Q4_K_M", "Q6_K", "UD-Q4_K_XL"])
    assert _catalog_cache_path(REPO, mirror.url) != _catalog_cache_path(REPO, real.url)


def test_a_mirrors_catalog_is_not_shown_for_another_endpoint(two_hubs, monkeypatch):
    mirror, _ = two_hubs
    _use(mirror, monkeypatch)
    Catalog.load()
    elsewhere = _offline_at("https://huggingface.co", monkeypatch)
    assert elsewhere.source == "builtin" and elsewhere.commit is None


def test_models_command_shows_the_catalog_of_the_endpoint_in_use(two_hubs, monkeypatch):
    import typer

    from glmchat.commands import hub as hub_cmd

    app = typer.Typer()
    hub_cmd.register(app)
    mirror, real = two_hubs
    for h in (mirror, real):
        _use(h, monkeypatch)
        assert CliRunner().invoke(app, ["models", "--json", "--vram", "0"]).exit_code == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for h, commit in ((mirror, MIRROR_COMMIT), (real, HUB_COMMIT)):
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        r = CliRunner().invoke(app, ["models", "--json", "--vram", "0"])
        data = json.loads(r.output)
        assert (data["source"], data["commit"]) == ("cache", commit)


def _write_legacy(data: object) -> None:
    path = _legacy_cache_path(REPO)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def test_a_catalog_saved_before_endpoint_keys_is_kept_only_for_its_endpoint(two_hubs, monkeypatch):
    mirror, real = two_hubs
    _use(mirror, monkeypatch)
    listed = Catalog.load()
    _catalog_cache_path(REPO, mirror.url).rename(_legacy_cache_path(REPO))  # as an older glmchat left it

    assert _offline_at(real.url, monkeypatch).source == "builtin"  # recorded for the mirror: not the Hub's
    assert _legacy_cache_path(REPO).exists()
    migrated = _offline_at(mirror.url, monkeypatch)
    assert (migrated.source, migrated.commit, migrated.names) == ("cache", MIRROR_COMMIT, listed.names)
    assert _catalog_cache_path(REPO, mirror.url).exists() and not _legacy_cache_path(REPO).exists()


@pytest.mark.parametrize("legacy", [
    "not json {",
    [1, 2, 3],
    {"files": [{"path": "GLM-4.7-Flash-Q4_K_M.gguf", "size": 5}]},  # no endpoint recorded
    {"endpoint": "URL", "files": "nonsense"},
    {"endpoint": "URL", "files": [{"path": "GLM-4.7-Flash-Q4_K_M.gguf", "size": "big"}]},
    {"endpoint": "URL", "fetched_at": "yesterday", "files": []},
])
def test_old_or_damaged_cache_files_never_break_loading(legacy, two_hubs, monkeypatch):
    mirror, _ = two_hubs
    if isinstance(legacy, dict) and legacy.get("endpoint") == "URL":
        legacy = {**legacy, "endpoint": mirror.url}
    _write_legacy(legacy)
    cat = _offline_at(mirror.url, monkeypatch)
    assert cat.source == "builtin"
    bad = _catalog_cache_path(REPO, mirror.url)
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(legacy if isinstance(legacy, str) else json.dumps(legacy), encoding="utf-8")
    assert _offline_at(mirror.url, monkeypatch).source == "builtin"


def test_the_cache_place_names_the_host_never_credentials():
    with_creds = _catalog_cache_path(REPO, "https://user:secret@mirror.example:8443/hf")
    assert "secret" not in str(with_creds) and "mirror.example_8443" in with_creds.parent.name
    assert with_creds != _catalog_cache_path(REPO, "https://mirror.example:8443/hf")  # other credentials, other place
    assert _catalog_cache_path(REPO, "http://h:not-a-port").name.endswith(".json")  # odd endpoints never raise
