"""Serving: the Streamlit settings, the database URL kept off command lines, the login throttle
and the Markdown escaping the pages rely on."""

from __future__ import annotations

import re
from pathlib import Path

from he_helpers import make_study

from human_eval import serve
from human_eval.ui.text import md_escape
from human_eval.ui.throttle import CAP_S, FREE, GLOBAL_FREE, LoginThrottle


def test_serve_keeps_the_url_off_the_command_line(
    sqlite_url: str, sweep: Path, capsys, monkeypatch
) -> None:
    make_study(sqlite_url, sweep)
    monkeypatch.setenv("HUMAN_EVAL_DB", sqlite_url)
    assert serve.main(["--dry-run", "--port", "8600", "--base-url-path", "/rate/"]) == 0
    out = capsys.readouterr().out
    assert sqlite_url not in out and "HUMAN_EVAL_DB" in out
    cmd = serve.streamlit_command("127.0.0.1", 8600, "rate")
    assert sqlite_url not in cmd and "--db" not in cmd
    settings = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert settings["--server.baseUrlPath"] == "rate"
    assert settings["--client.toolbarMode"] == "minimal"
    assert settings["--client.showErrorDetails"] == "none"
    assert settings["--server.enableXsrfProtection"] == "true"
    assert settings["--server.maxUploadSize"] == "1"
    monkeypatch.delenv("HUMAN_EVAL_DB")
    assert serve.main(["--dry-run"]) == 2
    assert "HUMAN_EVAL_DB" in capsys.readouterr().err


def test_throttle_backs_off_per_client_and_for_everyone() -> None:
    t = [0.0]
    throttle = LoginThrottle(clock=lambda: t[0])
    waits = [throttle.failed("s", "a") for _ in range(10)]
    assert waits[: FREE - 1] == [0.0] * (FREE - 1)
    assert waits[FREE - 1 :] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    assert throttle.wait_s("s", "b") == 0.0  # another client is not slowed down by a
    t[0] += 1000
    assert throttle.failed("s", "a") == CAP_S  # capped
    throttle.succeeded("s", "a")
    assert throttle.wait_s("s", "a") == 0.0
    for i in range(GLOBAL_FREE):  # many clients, one wrong token each: everyone waits
        throttle.failed("s", f"client-{i}")
    assert throttle.wait_s("s", "fresh") > 0 and throttle.wait_s("other study", "fresh") == 0


def test_md_escape_leaves_no_markup() -> None:
    escaped = md_escape("[x](https://evil.example) **b** <i>i</i> a@b.example\nnext")
    assert re.search(r"(?<!\\)[<>\[\]()*@:/.]", escaped) is None  # every mark escaped
    assert "evil.example" not in escaped and "\n" not in escaped
    assert escaped.replace("\\", "").replace("\u200b", "") == (
        "[x](https://evil.example) **b** <i>i</i> a@b.example next"
    )
