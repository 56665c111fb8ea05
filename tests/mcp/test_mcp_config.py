"""[mcp] in config.toml: servers over stdio or HTTP, checked on load with file, line and key."""

from __future__ import annotations

import pytest

from glmchat.errors import ConfigError
from glmchat.mcp.config import servers_from
from glmchat.settings import load_settings

GOOD = """\
[mcp]
timeout = 7.5

[mcp.servers.files]
command = "python"
args = ["-m", "my_mcp_server", "--root", "."]
env = { LOG_LEVEL = "warning" }

[mcp.servers.tracker]
url = "https://mcp.example.com/mcp"
headers_env = { Authorization = "TRACKER_TOKEN" }
enabled = false
"""


def test_a_stdio_and_an_http_server_are_read_in_file_order(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    settings = load_settings(path)
    assert settings.mcp.timeout == 7.5
    files, tracker = servers_from(settings.mcp.servers)
    assert (files.name, files.transport, files.command, files.args) == ("files", "stdio", "python", ["-m", "my_mcp_server", "--root", "."])
    assert files.env == {"LOG_LEVEL": "warning"} and files.enabled
    assert (tracker.transport, tracker.url, tracker.headers_env, tracker.enabled) == (
        "http", "https://mcp.example.com/mcp", {"Authorization": "TRACKER_TOKEN"}, False)


def test_no_mcp_table_means_no_servers(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[chat]\nhistory = true\n")
    assert servers_from(load_settings(path).mcp.servers) == []


@pytest.mark.parametrize("table, line, words", [
    ('[mcp.servers.a]\ncommand = "x"\nargs = "not a list"\n', 3, "mcp.servers.a.args must be a list"),
    ('[mcp.servers.a]\ncommand = "x"\nurl = "http://h/mcp"\n', 1, "exactly one of command"),
    ('[mcp.servers.a]\nurl = "ftp://h/mcp"\n', 2, "mcp.servers.a.url must start with http"),
    ('[mcp.servers.a]\ncommand = "x"\ncolour = "red"\n', 3, "mcp.servers.a.colour is not a server setting"),
    ('[mcp.servers.a]\nurl = "http://h/mcp"\nheaders_env = { Authorization = 3 }\n', 3, "headers_env must be a table of strings"),
    ('[mcp.servers.a]\ncommand = "x"\nenabled = "yes"\n', 3, "enabled must be true or false"),
    ('[mcp]\ntimeout = -1\n', 2, "mcp.timeout"),
    ('[mcp]\nservers = 3\n', 2, "mcp.servers must be a table"),
])
def test_a_bad_server_table_names_file_line_and_key(tmp_path, table, line, words):
    path = tmp_path / "config.toml"
    path.write_text("[chat]\nhistory = true\n\n" + table)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert f"{path}:{line + 3}" in message and words in message
