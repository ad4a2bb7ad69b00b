"""The built-in server is as strict as xAI where xAI is strict (issue 27), in xAI's
flat error shape, and lenient only when asked (``strict=False``)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

import xstream
from xstream.testing import MockServer

KEY = "xai-test-key-0123456789"
HI = [{"role": "user", "content": "Hi"}]


async def post(srv: MockServer, path: str, body: Any, *, key: str | None = KEY) -> tuple[int, Any]:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    root = srv.base_url.removesuffix("/v1")
    async with (
        aiohttp.ClientSession() as session,
        session.post(root + path, json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def assert_flat(body: Any) -> None:
    """xAI's error shape: {"code": str, "error": str}, not OpenAI's nested object."""
    assert set(body) == {"code", "error"}, body
    assert isinstance(body["code"], str) and isinstance(body["error"], str)


async def test_an_unknown_model_is_a_404_with_xais_body() -> None:
    async with MockServer() as srv:
        status, body = await post(srv, "/v1/chat/completions", {"model": "grok-5", "messages": HI})
        assert status == 404
        assert_flat(body)
        assert "The model grok-5 does not exist" in body["error"]
        # and through the client: NotFoundError, the server's own words
        async with xstream.AsyncClient(KEY, base_url=srv.base_url) as client:
            with pytest.raises(xstream.NotFoundError, match="grok-5 does not exist"):
                await client.chat.completions.create(model="grok-5", messages=HI, stream=True)
            with pytest.raises(xstream.NotFoundError, match="grok-5 does not exist"):
                await client.responses.create(model="grok-5", input="Hi")


async def test_a_known_model_streams() -> None:
    async with MockServer() as srv, xstream.AsyncClient(KEY, base_url=srv.base_url) as client:
        stream = await client.chat.completions.create(model="grok-4", messages=HI, stream=True)
        assert "".join([t async for t in stream.text_stream])
        extra = MockServer(models=["my-finetune"])
        async with extra:
            status, _ = await post(
                extra, "/v1/chat/completions", {"model": "my-finetune", "messages": HI}
            )
            assert status == 200


@pytest.mark.parametrize("path", ["/chat/completions", "/responses", "/v1/chat/complete"])
async def test_a_path_without_v1_or_unknown_is_a_404_not_a_model_error(path: str) -> None:
    async with MockServer() as srv:
        status, body = await post(srv, path, {"model": "grok-4", "messages": HI, "input": "Hi"})
    assert status == 404
    assert_flat(body)
    assert "model" not in body["code"].lower() and "No route" in body["error"]
    if not path.startswith("/v1/"):
        assert "/v1" in body["error"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"max_tokens": -3}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"temperature": 5}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"n": 0}, "n"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
        ({"model": None}, "model"),
    ],
)
async def test_invalid_parameters_are_a_400_in_xais_flat_shape(
    extra: dict[str, Any], named: str
) -> None:
    async with MockServer() as srv:
        status, body = await post(
            srv, "/v1/chat/completions", {"model": "grok-4", "messages": HI, **extra}
        )
    assert status == 400
    assert_flat(body)
    assert body["error"].startswith(named + ":")


async def test_responses_parameters_are_checked_too() -> None:
    async with MockServer() as srv:
        status, body = await post(
            srv, "/v1/responses", {"model": "grok-4", "input": "Hi", "max_output_tokens": -1}
        )
        assert status == 400 and body["error"].startswith("max_output_tokens:")
        status, body = await post(srv, "/v1/responses", {"model": "grok-4"})
        assert status == 400 and body["error"].startswith("input:")


async def test_a_missing_or_wrong_key_is_a_400_as_xai_answers() -> None:
    async with MockServer(api_key=KEY) as srv:
        status, body = await post(
            srv, "/v1/chat/completions", {"model": "grok-4", "messages": HI}, key=None
        )
        assert status == 400
        assert_flat(body)
        status, body = await post(
            srv,
            "/v1/chat/completions",
            {"model": "grok-4", "messages": HI},
            key="xai-wrong-key-999",
        )
        assert status == 400 and "Incorrect API key" in body["error"]
        assert "xai-wrong-key-999" not in body["error"]  # shown masked, as xAI does
        async with xstream.AsyncClient("xai-wrong-key-999", base_url=srv.base_url) as client:
            with pytest.raises(xstream.BadRequestError, match="Incorrect API key"):
                await client.chat.completions.create(model="grok-4", messages=HI)
        status, _ = await post(srv, "/v1/chat/completions", {"model": "grok-4", "messages": HI})
        assert status == 200


async def test_lenient_forgives_all_of_it() -> None:
    async with MockServer(strict=False) as srv:
        for path, body in [
            ("/chat/completions", {"model": "m", "messages": [], "max_tokens": 3}),
            ("/v1/chat/completions", {"model": "anything", "messages": HI, "temperature": 9}),
        ]:
            status, _ = await post(srv, path, body, key=None)
            assert status == 200, path
        # a wrong path is still a 404, but no longer called a missing model
        status, body = await post(srv, "/v1/nowhere", {})
        assert status == 404 and body["error"]["code"] == "not_found"
