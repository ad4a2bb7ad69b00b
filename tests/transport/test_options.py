"""Transport options: proxies, per-call retries, ``with_options``, raw responses.

End to end over 127.0.0.1: a MockServer target, and for proxies a forwarding
proxy of our own (tests/proxyserver.py) that records what went through it.
The sync ``Client`` runs in a worker thread while both serve on the test's loop.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
from aioresponses import aioresponses

import xstream
from tests.transport.proxyserver import ForwardingProxy, closed_port
from tests.transport.test_client_requests import COMPLETION, _CompatResponse
from xstream._transport.proxy import Proxies, bypassed
from xstream.testing import MockServer, Reply

KEY = "test-key-not-a-secret"
MESSAGES = [{"role": "user", "content": "Hi"}]
PASSWORD = "pr0xy-s3cret"
FAST_503 = Reply(status=503, headers={"retry-after-ms": "1"})


@pytest.fixture
async def proxy() -> Any:
    async with ForwardingProxy() as p:
        yield p


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as m:
        yield m


def _chat_targets(proxy: ForwardingProxy) -> list[str]:
    return [s.target for s in proxy.seen]


# ------------------------------------------------------------------ proxies


async def test_proxy_carries_requests_and_streams(
    server: MockServer, proxy: ForwardingProxy
) -> None:
    server.enqueue(Reply(text="Hello"), Reply(text="streamed through", chunk_size=3))
    async with xstream.AsyncClient(KEY, base_url=server.base_url, proxy=proxy.url) as client:
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        text = "".join([t async for t in stream.text_stream])
    assert completion.choices[0].message.content == "Hello"
    assert text == "streamed through"
    assert _chat_targets(proxy) == [f"{server.base_url}/chat/completions"] * 2
    assert [s.headers["authorization"] for s in proxy.seen] == [f"Bearer {KEY}"] * 2
    assert len(server.requests) == 2  # the target got both, from the proxy


async def test_proxy_login_goes_to_the_proxy_and_never_into_text(server: MockServer) -> None:
    server.enqueue(Reply(text="Hi"))
    async with ForwardingProxy(login=("alice", PASSWORD)) as proxy:
        url = f"http://alice:{PASSWORD}@127.0.0.1:{proxy.port}"
        async with xstream.AsyncClient(KEY, base_url=server.base_url, proxy=url) as client:
            completion = await client.chat.completions.create(model="m", messages=MESSAGES)
            shown = repr(client) + repr(client._transport._pool.proxies)
    assert completion.choices[0].message.content == "Hi"
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert proxy.seen[0].headers["proxy-authorization"] == f"Basic {token}"
    assert "proxy-authorization" not in server.requests[0].headers  # the proxy's, not the API's
    assert PASSWORD not in shown
    assert f"127.0.0.1:{proxy.port}" in shown


async def test_a_wrong_proxy_login_is_a_connection_error_without_the_password(
    server: MockServer,
) -> None:
    async with ForwardingProxy(login=("alice", "right")) as proxy:
        url = f"http://alice:{PASSWORD}@127.0.0.1:{proxy.port}"
        async with xstream.AsyncClient(
            KEY, base_url=server.base_url, proxy=url, max_retries=0
        ) as client:
            with pytest.raises(xstream.APIConnectionError) as caught:
                await client.chat.completions.create(model="m", messages=MESSAGES)
            # the connection the 407 came on is not reused for the API
            proxy.expected_auth = None
            await client.chat.completions.create(model="m", messages=MESSAGES)
    message = str(caught.value)
    assert message.startswith(f"the proxy http://127.0.0.1:{proxy.port} refused to forward")
    assert "HTTP 407" in message
    assert PASSWORD not in message
    assert len(server.requests) == 1


async def test_http_proxy_from_the_environment_carries_loopback_too(
    server: MockServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp, curl and requests do not exempt loopback on their own; neither do we
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    server.enqueue(Reply(text="via env"))
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "via env"
    assert _chat_targets(proxy) == [f"{server.base_url}/chat/completions"]


async def test_lower_case_http_proxy_is_honoured(
    server: MockServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url.removeprefix("http://"))  # no scheme, as curl
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(proxy.seen) == 1


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "127.0.0.1:{port}"])
async def test_no_proxy_bypasses_the_proxy(
    server: MockServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=server.port))
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert proxy.seen == []
    assert len(server.requests) == 1


async def test_no_proxy_for_another_port_or_host_does_not_bypass(
    server: MockServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", f"example.com, 127.0.0.1:{server.port + 1}")
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(proxy.seen) == 1


async def test_https_goes_through_a_connect_tunnel_and_a_refusal_is_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ForwardingProxy(refuse_connect=403) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://bob:{PASSWORD}@127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # not for https:// URLs
        base = "https://api.example.invalid/v1"
        async with xstream.AsyncClient(KEY, base_url=base, max_retries=0) as client:
            with pytest.raises(xstream.APIConnectionError) as caught:
                await client.chat.completions.create(model="m", messages=MESSAGES)
    assert [(s.method, s.target) for s in proxy.seen] == [("CONNECT", "api.example.invalid:443")]
    assert "authorization" not in proxy.seen[0].headers  # the API key stays inside the tunnel
    message = str(caught.value)
    assert f"the proxy http://127.0.0.1:{proxy.port} refused" in message
    assert "HTTP 403" in message and "api.example.invalid" in message
    assert PASSWORD not in message and "bob:" not in message
    assert not isinstance(caught.value, xstream.ProtocolError)


async def test_a_proxy_that_is_down_is_a_connection_error_naming_it(server: MockServer) -> None:
    port = closed_port()
    url = f"http://carol:{PASSWORD}@127.0.0.1:{port}"
    async with xstream.AsyncClient(KEY, base_url=server.base_url, proxy=url, max_retries=0) as c:
        with pytest.raises(xstream.APIConnectionError) as caught:
            await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    message = str(caught.value)
    assert message.startswith(f"could not reach the proxy http://127.0.0.1:{port} (for ")
    assert PASSWORD not in message and PASSWORD not in repr(caught.value.args)
    assert server.requests == []


async def test_trust_env_false_ignores_the_environment(
    server: MockServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)

    def run() -> None:
        with xstream.Client(KEY, base_url=server.base_url, trust_env=False) as client:
            client.chat.completions.create(model="m", messages=MESSAGES)

    async with xstream.AsyncClient(KEY, base_url=server.base_url, trust_env=False) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    await asyncio.to_thread(run)
    assert proxy.seen == []
    assert len(server.requests) == 2


async def test_an_explicit_proxy_wins_over_the_environment(
    server: MockServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("NO_PROXY", "*")
    async with xstream.AsyncClient(KEY, base_url=server.base_url, proxy=proxy.url) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(proxy.seen) == 1


async def test_your_own_session_is_left_alone(
    server: MockServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with aiohttp.ClientSession() as session:
        client = xstream.AsyncClient(KEY, base_url=server.base_url, session=session)
        await client.chat.completions.create(model="m", messages=MESSAGES)
        await client.aclose()
        assert not session.closed
        with pytest.raises(xstream.ConfigurationError, match="proxy= configures"):
            xstream.AsyncClient(KEY, session=session, proxy=proxy.url)
    assert proxy.seen == []  # the session does not trust the environment: its owner decides


@pytest.mark.parametrize("bad", ["socks5://127.0.0.1:1080", "http://", "ftp://proxy:21"])
def test_a_proxy_url_that_aiohttp_cannot_use_is_refused_at_once(bad: str) -> None:
    with pytest.raises(xstream.ConfigurationError, match="proxy"):
        xstream.AsyncClient(KEY, proxy=bad)


def test_an_unusable_proxy_in_the_environment_says_which_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://u:{PASSWORD}@proxy:1080")
    with pytest.raises(xstream.ConfigurationError, match="HTTPS_PROXY") as caught:
        xstream.AsyncClient(KEY)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("127.0.0.1", 80, "127.0.0.1", True),
        ("api.x.ai", 443, ".x.ai", True),
        ("api.x.ai", 443, "x.ai", True),
        ("x.ai", 443, ".x.ai", True),
        ("notx.ai", 443, "x.ai", False),
        ("api.x.ai", 443, "API.X.AI", True),
        ("localhost", 8080, "localhost:8080", True),
        ("localhost", 9090, "localhost:8080", False),
        ("anything", 1, " foo , * ", True),
        ("::1", 80, "[::1]", True),
        ("::1", 80, "::1", True),
        ("::1", 80, "[::1]:80", True),
        ("10.0.0.1", 80, "", False),
        ("10.0.0.1", 80, "10.0.0.10", False),
    ],
)
def test_no_proxy_rules(host: str, port: int, no_proxy: str, bypass: bool) -> None:
    assert bypassed(host, port, no_proxy) is bypass


def test_environment_proxies_are_read_once_per_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://p1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://p2:3128")
    proxies = Proxies(trust_env=True)
    http, https = proxies.route("http://a/x"), proxies.route("https://a/x")
    assert http is not None and str(http.url) == "http://p1:3128"
    assert https is not None and str(https.url) == "http://p2:3128"
    assert Proxies(trust_env=False).route("http://a/x") is None


async def test_the_sync_client_goes_through_a_proxy(
    server: MockServer, proxy: ForwardingProxy
) -> None:
    server.enqueue(Reply(text="sync streamed", chunk_size=2))

    def run() -> str:
        with xstream.Client(KEY, base_url=server.base_url, proxy=proxy.url) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            return "".join(stream.text_stream)

    assert await asyncio.to_thread(run) == "sync streamed"
    assert len(proxy.seen) == 1


# ------------------------------------------------------------------ per-call retries


async def test_per_call_max_retries_raises_the_clients(server: MockServer) -> None:
    server.enqueue(FAST_503, FAST_503, Reply(text="third time"))
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client:
        completion = await client.chat.completions.create(
            model="m", messages=MESSAGES, max_retries=2
        )
    assert completion.choices[0].message.content == "third time"
    assert len(server.requests) == 3
    assert "max_retries" not in server.requests[0].json  # an option, not an API parameter


async def test_per_call_max_retries_zero_lowers_the_clients(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="never asked"))
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=5) as client:
        with pytest.raises(xstream.InternalServerError):
            await client.chat.completions.create(model="m", messages=MESSAGES, max_retries=0)
        assert len(server.requests) == 1
        assert client.max_retries == 5  # the client's default is untouched


async def test_per_call_max_retries_on_a_stream(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="ok"))
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, max_retries=1
        )
        assert "".join([t async for t in stream.text_stream]) == "ok"
    assert len(server.requests) == 2


async def test_per_call_max_retries_through_the_stream_helper(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="events"))
    client = xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0)
    async with (
        client,
        client.chat.completions.stream(model="m", messages=MESSAGES, max_retries=1) as stream,
    ):
        async for _ in stream:
            pass
        completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == "events"
    assert len(server.requests) == 2


async def test_per_call_max_retries_on_responses_and_sse(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="answer"), Reply(), FAST_503, FAST_503)
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client:
        response = await client.responses.create(model="m", input="Hi", max_retries=1)
        assert response.output_text == "answer"
        retrieved = await client.responses.retrieve(response.id, max_retries=0)
        assert retrieved.id == response.id
        with pytest.raises(xstream.InternalServerError):
            await client.sse("POST", "chat/completions", json={"model": "m"}, max_retries=1)
    assert len(server.requests) == 5  # 2 creates, 1 retrieve, 2 sse attempts


def test_a_negative_per_call_max_retries_is_refused() -> None:
    client = xstream.AsyncClient(KEY, base_url="http://127.0.0.1:9/v1")

    async def call() -> None:
        await client.chat.completions.create(model="m", messages=MESSAGES, max_retries=-1)

    with pytest.raises(xstream.ConfigurationError, match="max_retries"):
        asyncio.run(call())


async def test_per_call_max_retries_in_the_sync_client(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="sync"), FAST_503)

    def run() -> tuple[str | None, type[BaseException] | None]:
        with xstream.Client(KEY, base_url=server.base_url, max_retries=0) as client:
            done = client.chat.completions.create(model="m", messages=MESSAGES, max_retries=1)
            try:
                client.responses.create(model="m", input="x", max_retries=0)
            except xstream.APIError as exc:
                return done.choices[0].message.content, type(exc)
        return None, None

    assert await asyncio.to_thread(run) == ("sync", xstream.InternalServerError)
    assert len(server.requests) == 3


# ------------------------------------------------------------------ with_options


async def test_with_options_shares_the_pool_and_merges_headers(server: MockServer) -> None:
    parent = xstream.AsyncClient(
        KEY, base_url=server.base_url, default_headers={"X-App": "a", "X-Team": "t"}
    )
    derived = parent.with_options(default_headers={"X-App": "b"}, timeout=7, max_retries=0)
    # the derived client is used first: the pool it opens is the parent's
    await derived.chat.completions.create(model="m", messages=MESSAGES)
    await parent.chat.completions.create(model="m", messages=MESSAGES)
    assert derived._transport.session is parent._transport.session
    assert server.connections_seen == 1  # one kept-alive connection served both
    sent = [(r.headers["X-App"], r.headers["X-Team"]) for r in server.requests]
    assert sent == [("b", "t"), ("a", "t")]
    assert derived.timeout == xstream.Timeout.coerce(7)
    assert derived.max_retries == 0
    assert parent.max_retries == 2 and parent.timeout == xstream.Timeout()
    assert parent.default_headers == {"X-App": "a", "X-Team": "t"}
    await parent.aclose()


async def test_closing_a_derived_client_leaves_the_pool_open(server: MockServer) -> None:
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as parent:
        async with parent.with_options(max_retries=1) as derived:
            await derived.chat.completions.create(model="m", messages=MESSAGES)
        session = parent._transport.session
        assert not session.closed
        await parent.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(xstream.APIConnectionError, match="closed"):
            await derived.chat.completions.create(model="m", messages=MESSAGES)
    assert session.closed  # closing the parent closed the pool
    sibling = parent.with_options(timeout=3)
    with pytest.raises(xstream.APIConnectionError, match="closed"):
        await sibling.chat.completions.create(model="m", messages=MESSAGES)


async def test_with_options_per_call_retries_and_the_derived_default(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="once more"))
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as parent:
        patient = parent.with_options(max_retries=1)
        completion = await patient.chat.completions.create(model="m", messages=MESSAGES)
        assert completion.choices[0].message.content == "once more"
        server.enqueue(FAST_503)
        with pytest.raises(xstream.InternalServerError):
            await parent.chat.completions.create(model="m", messages=MESSAGES)


async def test_with_options_other_key_base_url_and_conversation(
    server: MockServer, mocked: aioresponses
) -> None:
    mocked.post("http://other.test/v2/chat/completions", payload=COMPLETION)
    async with xstream.AsyncClient(
        KEY, base_url="http://first.test/v1", conversation_id="conv-1"
    ) as parent:
        derived = parent.with_options(api_key="key-two", base_url="http://other.test/v2/")
        await derived.chat.completions.create(model="m", messages=MESSAGES)
        assert derived.base_url == "http://other.test/v2"
        assert repr(derived) == "<xstream.AsyncClient base_url='http://other.test/v2'>"
        with pytest.raises(xstream.ConfigurationError):
            parent.with_options(base_url="other.test")
        with pytest.raises(xstream.ConfigurationError):
            parent.with_options(max_retries=-1)
    ((_, calls),) = mocked.requests.items()
    headers = calls[0].kwargs["headers"]
    assert headers["Authorization"] == "Bearer key-two"
    assert headers["x-grok-conv-id"] == "conv-1"


async def test_with_options_keeps_the_proxy(server: MockServer, proxy: ForwardingProxy) -> None:
    async with xstream.AsyncClient(KEY, base_url=server.base_url, proxy=proxy.url) as parent:
        await parent.with_options(timeout=5).chat.completions.create(model="m", messages=MESSAGES)
    assert len(proxy.seen) == 1


async def test_sync_with_options_shares_the_loop_thread_and_the_pool(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="retried"))

    def run() -> list[Any]:
        parent = xstream.Client(KEY, base_url=server.base_url, max_retries=0)
        derived = parent.with_options(max_retries=1, default_headers={"X-Derived": "1"})
        out: list[Any] = [derived.chat.completions.create(model="m", messages=MESSAGES)]
        out.append(derived._loop is parent._loop)
        out.append(derived._async._transport.session is parent._async._transport.session)
        derived.close()
        derived.close()  # idempotent
        out.append(parent.chat.completions.create(model="m", messages=MESSAGES))
        try:
            derived.chat.completions.create(model="m", messages=MESSAGES)
        except xstream.APIConnectionError as exc:
            out.append(str(exc))
        parent.close()
        try:
            parent.with_options(timeout=1).chat.completions.create(model="m", messages=MESSAGES)
        except xstream.APIConnectionError as exc:
            out.append(str(exc))
        return out

    first, same_loop, same_session, second, closed, after = await asyncio.to_thread(run)
    assert first.choices[0].message.content == "retried"
    assert same_loop and same_session
    assert second.choices[0].message.content
    assert closed == after == "this client is closed"
    assert [r.headers.get("X-Derived") for r in server.requests] == ["1", "1", None]


def test_a_closed_sync_client_does_not_start_a_new_loop_thread(server_thread: MockServer) -> None:
    import threading

    before = set(threading.enumerate())
    client = xstream.Client(KEY, base_url=server_thread.base_url)
    client.chat.completions.create(model="m", messages=MESSAGES)
    client.close()
    with pytest.raises(xstream.APIConnectionError, match="closed"):
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert set(threading.enumerate()) - before == set()


@pytest.fixture
def server_thread() -> Iterator[MockServer]:
    with MockServer.running_in_thread(strict=False) as srv:
        yield srv


# ------------------------------------------------------------------ raw responses


async def test_raw_chat_completion_has_headers_status_and_request_id(server: MockServer) -> None:
    server.enqueue(FAST_503, Reply(text="Hello", headers={"x-request-id": "req_42"}))
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES, temperature=0.5
        )
        plain = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert raw.status_code == 200
    assert raw.request_id == "req_42"
    assert raw.headers["Content-Type"].startswith("application/json")
    assert raw.retries_taken == 1
    assert raw.http_response.status == 200
    completion = raw.parse()
    assert isinstance(completion, xstream.ChatCompletion)
    assert completion.choices[0].message.content == "Hello"
    assert type(plain) is type(completion)
    assert server.requests[1].json["temperature"] == 0.5
    assert repr(raw) == "<RawResponse [200] request_id='req_42'>"


async def test_raw_request_id_from_request_id_header(server: MockServer) -> None:
    server.enqueue(Reply(headers={"request-id": "alt-7"}), Reply())
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        first = await client.chat.completions.with_raw_response.create(model="m", messages=[])
        second = await client.chat.completions.with_raw_response.create(model="m", messages=[])
    assert (first.request_id, second.request_id) == ("alt-7", None)
    assert first.retries_taken == 0


async def test_concurrent_raw_calls_get_their_own_responses(server: MockServer) -> None:
    server.enqueue(*(Reply(text=f"t{i}", headers={"x-request-id": f"r{i}"}) for i in range(8)))
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        raws = await asyncio.gather(
            *(
                client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
                for _ in range(8)
            )
        )
    pairs = {(r.request_id, r.parse().choices[0].message.content) for r in raws}
    assert pairs == {(f"r{i}", f"t{i}") for i in range(8)}


async def test_raw_errors_raise_as_usual(server: MockServer) -> None:
    server.enqueue(Reply(status=400))
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(xstream.BadRequestError):
            await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        with pytest.raises(ValueError, match=r"stream\.response"):
            await client.chat.completions.with_raw_response.create(
                model="m", messages=MESSAGES, stream=True
            )
        with pytest.raises(ValueError, match=r"stream\.response"):
            await client.responses.with_raw_response.create(model="m", input="x", stream=True)


async def test_raw_responses_create_retrieve_delete(server: MockServer) -> None:
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        created = await client.responses.with_raw_response.create(model="grok-4", input="Hi")
        response = created.parse()
        assert isinstance(response, xstream.Response) and response.output_text
        retrieved = await client.responses.with_raw_response.retrieve(response.id)
        assert retrieved.parse().id == response.id and retrieved.status_code == 200
        deleted = await client.responses.with_raw_response.delete(response.id)
        assert deleted.parse()["deleted"] is True
    assert [r.method for r in server.requests] == ["POST", "GET", "DELETE"]


async def test_raw_responses_request_id(mocked: aioresponses) -> None:
    body = {"id": "resp_1", "object": "response", "status": "completed", "output": []}
    mocked.get("http://x.test/v1/responses/resp_1", payload=body, headers={"x-request-id": "q9"})
    async with xstream.AsyncClient(KEY, base_url="http://x.test/v1") as client:
        raw = await client.responses.with_raw_response.retrieve("resp_1", extra_headers={"A": "1"})
    assert raw.request_id == "q9"
    assert raw.parse().id == "resp_1"


async def test_raw_responses_in_the_sync_client(server: MockServer) -> None:
    server.enqueue(Reply(text="sync raw", headers={"x-request-id": "s1"}))

    def run() -> tuple[str | None, str | None, str, int]:
        with xstream.Client(KEY, base_url=server.base_url) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="m", messages=iter(MESSAGES)
            )
            created = client.responses.with_raw_response.create(model="m", input="Hi")
            got = client.responses.with_raw_response.retrieve(created.parse().id)
            client.responses.with_raw_response.delete(created.parse().id)
            return (
                raw.request_id,
                raw.parse().choices[0].message.content,
                got.parse().id,
                got.status_code,
            )

    request_id, text, got_id, status = await asyncio.to_thread(run)
    assert (request_id, text, status) == ("s1", "sync raw", 200)
    assert got_id.startswith("resp")
