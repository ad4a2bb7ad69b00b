"""Request building, error mapping and retries, with aioresponses (no sockets at all)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
from aioresponses import aioresponses
from yarl import URL

import xstream
from xstream._resources.calls import chat_call
from xstream._transport import transport as _transport

BASE = "http://127.0.0.1:9/v1"
URL_CC = f"{BASE}/chat/completions"
KEY = "xai-SECRET-key-0123456789"
MESSAGES = [{"role": "user", "content": "Hi"}]
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "grok-2-latest",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required ``stream_writer``; supply one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as m:
        yield m


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry waits instead of sleeping through them."""
    waits: list[float] = []

    async def fake_sleep(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr(_transport.asyncio, "sleep", fake_sleep)
    return waits


def sent(m: aioresponses, n: int = 0) -> Any:
    return m.requests[("POST", URL(URL_CC))][n].kwargs


async def create(client: xstream.AsyncClient, **kw: Any) -> xstream.ChatCompletion:
    return await client.chat.completions.create(model="grok-2-latest", messages=MESSAGES, **kw)


async def test_headers_and_body(mocked: aioresponses) -> None:
    mocked.post(URL_CC, payload=COMPLETION)
    async with xstream.AsyncClient(KEY, base_url=BASE, default_headers={"X-Team": "a"}) as client:
        result = await create(client, temperature=0.5, extra_headers={"X-Trace": "t"})
    assert result.choices[0].message.content == "Hello"
    kwargs = sent(mocked)
    headers = kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith(f"xstream/{xstream.__version__} ")
    assert headers["X-Team"] == "a" and headers["X-Trace"] == "t"
    body = json.loads(kwargs["data"])
    assert body == {
        "model": "grok-2-latest",
        "messages": MESSAGES,
        "stream": False,
        "temperature": 0.5,
    }


async def test_unset_params_are_not_sent_and_undeclared_ones_go_in_extra_body(
    mocked: aioresponses,
) -> None:
    mocked.post(URL_CC, payload=COMPLETION)
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        await create(
            client,
            top_p=None,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            stream_options={"include_usage": True},
            reasoning_effort="low",
            extra_body={"temperature": 0.1, "vendor": True, "my_server_param": {"x": 1}},
        )
    body = json.loads(sent(mocked)["data"])
    assert "top_p" not in body
    assert body["tools"][0]["function"]["name"] == "f"
    assert body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "low"
    assert body["my_server_param"] == {"x": 1}
    assert body["temperature"] == 0.1 and body["vendor"] is True


async def test_environment_supplies_key_and_base_url(
    mocked: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", "env-key")
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.2:9/v2/")
    mocked.post("http://127.0.0.2:9/v2/chat/completions", payload=COMPLETION)
    async with xstream.AsyncClient() as client:
        assert client.base_url == "http://127.0.0.2:9/v2"
        await create(client)
    call = mocked.requests[("POST", URL("http://127.0.0.2:9/v2/chat/completions"))][0]
    assert call.kwargs["headers"]["Authorization"] == "Bearer env-key"


def test_default_base_url_is_xai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XAI_BASE_URL", raising=False)
    assert xstream.AsyncClient("k").base_url == "https://api.x.ai/v1"


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(xstream.ConfigurationError, match="XAI_API_KEY"):
        xstream.AsyncClient()


def test_bad_base_url_is_a_clear_error() -> None:
    with pytest.raises(xstream.ConfigurationError, match="base_url"):
        xstream.AsyncClient("k", base_url="api.x.ai/v1")


STATUS_CASES = [
    (400, xstream.BadRequestError),
    (401, xstream.AuthenticationError),
    (403, xstream.PermissionDeniedError),
    (404, xstream.NotFoundError),
    (409, xstream.ConflictError),
    (418, xstream.APIStatusError),
    (422, xstream.UnprocessableEntityError),
    (429, xstream.RateLimitError),
    (500, xstream.InternalServerError),
    (503, xstream.InternalServerError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CASES)
async def test_status_maps_to_exception(
    mocked: aioresponses, no_sleep: list[float], status: int, cls: type[Exception]
) -> None:
    body = {"error": {"message": f"nope {status}", "type": "some_type", "code": "some_code"}}
    mocked.post(URL_CC, status=status, payload=body, headers={"x-request-id": "req-1"}, repeat=True)
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=0) as client:
        with pytest.raises(cls) as info:
            await create(client)
    err = info.value
    assert type(err) is cls
    assert isinstance(err, xstream.APIStatusError)
    assert err.status_code == status
    assert err.body == body
    assert err.code == "some_code" and err.type == "some_type"
    assert err.request_id == "req-1"
    assert f"nope {status}" in str(err)
    assert len(mocked.requests[("POST", URL(URL_CC))]) == 1


async def test_xai_style_error_body_is_read(mocked: aioresponses) -> None:
    body = {"code": "Client specified an invalid argument", "error": "Incorrect API key"}
    mocked.post(URL_CC, status=400, payload=body)
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        with pytest.raises(xstream.BadRequestError, match="Incorrect API key") as info:
            await create(client)
    assert info.value.code == "Client specified an invalid argument"


async def test_401_message_says_the_key_was_refused(mocked: aioresponses) -> None:
    mocked.post(URL_CC, status=401, body="unauthorized")
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        with pytest.raises(xstream.AuthenticationError, match="API key was refused"):
            await create(client)


async def test_key_never_in_repr_or_error_messages(mocked: aioresponses) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    mocked.post(URL_CC, status=401, payload=echo)
    client = xstream.AsyncClient(KEY, base_url=BASE)
    assert KEY not in repr(client)
    async with client:
        with pytest.raises(xstream.AuthenticationError) as info:
            await create(client)
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)


async def test_key_never_in_a_requests_repr(mocked: aioresponses) -> None:
    """A request is a Struct: its repr, str and rich's repr (a Struct's lists every
    field by default) name the method and URL, never the headers."""
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        request = client.chat.completions._api.build(
            chat_call({"model": "m", "messages": []}, stream=True)
        )
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    shown = [repr(request), str(request), repr(request.__rich_repr__())]
    assert shown[0] == f"<Request POST {BASE}/chat/completions>", shown
    assert not any(KEY in text for text in shown)


async def test_retries_5xx_then_succeeds(mocked: aioresponses, no_sleep: list[float]) -> None:
    mocked.post(URL_CC, status=503, payload={"error": {"message": "busy"}})
    mocked.post(URL_CC, status=502, body="bad gateway")
    mocked.post(URL_CC, payload=COMPLETION)
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=2) as client:
        result = await create(client)
    assert result.id == "c1"
    assert len(mocked.requests[("POST", URL(URL_CC))]) == 3
    assert len(no_sleep) == 2 and no_sleep[0] < no_sleep[1]


async def test_retry_after_is_honoured(mocked: aioresponses, no_sleep: list[float]) -> None:
    mocked.post(URL_CC, status=429, headers={"Retry-After": "3"})
    mocked.post(URL_CC, status=429, headers={"retry-after-ms": "250"})
    mocked.post(URL_CC, payload=COMPLETION)
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=2) as client:
        await create(client)
    assert no_sleep == [3.0, 0.25]


async def test_no_retry_on_400_or_when_server_says_so(
    mocked: aioresponses, no_sleep: list[float]
) -> None:
    mocked.post(URL_CC, status=400, payload={"error": {"message": "bad"}})
    mocked.post(URL_CC, status=503, headers={"x-should-retry": "false"})
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=3) as client:
        with pytest.raises(xstream.BadRequestError):
            await create(client)
        with pytest.raises(xstream.InternalServerError):
            await create(client)
    assert no_sleep == []


async def test_retries_exhausted_raise_the_last_error(
    mocked: aioresponses, no_sleep: list[float]
) -> None:
    mocked.post(URL_CC, status=500, repeat=True)
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=2) as client:
        with pytest.raises(xstream.InternalServerError):
            await create(client)
    assert len(mocked.requests[("POST", URL(URL_CC))]) == 3


async def test_connection_error_is_mapped_and_chained(
    mocked: aioresponses, no_sleep: list[float]
) -> None:
    mocked.post(URL_CC, exception=aiohttp.ClientOSError(111, "Connection refused"))
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=0) as client:
        with pytest.raises(xstream.APIConnectionError) as info:
            await create(client)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)
    assert KEY not in str(info.value)


async def test_connection_error_is_retried(mocked: aioresponses, no_sleep: list[float]) -> None:
    mocked.post(URL_CC, exception=aiohttp.ServerDisconnectedError())
    mocked.post(URL_CC, payload=COMPLETION)
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=1) as client:
        assert (await create(client)).id == "c1"
    assert len(no_sleep) == 1


async def test_error_body_with_200_status_raises(mocked: aioresponses) -> None:
    mocked.post(URL_CC, payload={"error": {"message": "model overloaded", "type": "overloaded"}})
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        with pytest.raises(xstream.OverloadedError, match="model overloaded"):
            await create(client)


async def test_stream_request_asks_for_event_stream(mocked: aioresponses) -> None:
    mocked.post(
        URL_CC,
        body=b'data: {"id":"x","choices":[]}\n\ndata: [DONE]\n\n',
        headers={"Content-Type": "text/event-stream"},
    )
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        chunks = [chunk async for chunk in stream]
    assert [c.id for c in chunks] == ["x"]
    kwargs = sent(mocked)
    assert kwargs["headers"]["Accept"] == "text/event-stream"
    assert json.loads(kwargs["data"])["stream"] is True


async def test_stream_answered_with_json_is_a_clear_error(mocked: aioresponses) -> None:
    mocked.post(URL_CC, body=b"<html>proxy login</html>", content_type="text/html")
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        with pytest.raises(xstream.StreamError, match=r"text/event-stream.*proxy login"):
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


async def test_user_session_is_used_and_not_closed(mocked: aioresponses) -> None:
    mocked.post(URL_CC, payload=COMPLETION)
    async with aiohttp.ClientSession() as session:
        async with xstream.AsyncClient(KEY, base_url=BASE, session=session) as client:
            await create(client)
        assert not session.closed


async def test_timeout_argument_forms() -> None:
    assert xstream.Timeout.coerce(5).idle == 5.0
    assert xstream.Timeout.coerce(None).first_event is None
    client = xstream.AsyncClient(KEY, base_url=BASE, timeout=xstream.Timeout(idle=1.0))
    assert client.timeout.idle == 1.0 and client.timeout.total is None
    with pytest.raises(ValueError):
        xstream.Timeout.coerce(0)


async def test_a_completion_with_nulls_where_defaults_belong_decodes(mocked: aioresponses) -> None:
    body = dict(
        COMPLETION, id=None, model=None, usage={"prompt_tokens": 1, "completion_tokens": None}
    )
    body["choices"] = [{"index": 0, "message": {"role": None, "content": "Hello"}}]
    mocked.post(URL_CC, payload=body)
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        result = await create(client)
    assert result.choices[0].message.content == "Hello"
    assert result.id == "" and result.usage is not None and result.usage.completion_tokens == 0


async def test_connect_timeout_is_its_own_typed_error(
    mocked: aioresponses, no_sleep: list[float]
) -> None:
    mocked.post(URL_CC, exception=aiohttp.ConnectionTimeoutError("timeout"), repeat=True)
    timeout = xstream.Timeout(connect=1.5)
    async with xstream.AsyncClient(KEY, base_url=BASE, max_retries=1, timeout=timeout) as client:
        with pytest.raises(xstream.ConnectTimeoutError) as info:
            await create(client)
    assert info.value.deadline == "connect" and info.value.seconds == 1.5
    assert isinstance(info.value, xstream.APITimeoutError)
    assert isinstance(info.value.__cause__, aiohttp.ConnectionTimeoutError)
    assert len(no_sleep) == 1  # retried once before giving up


@pytest.mark.parametrize("messages", [None, "hi", {"role": "user", "content": "hi"}])
async def test_async_messages_are_checked_before_anything_is_sent(
    mocked: aioresponses, messages: Any
) -> None:
    async with xstream.AsyncClient(KEY, base_url=BASE) as client:
        with pytest.raises(TypeError, match="messages must be a list") as info:
            await client.chat.completions.create(model="m", messages=messages, stream=True)
    assert type(messages).__name__ in str(info.value)
    assert not mocked.requests
