"""Calls mypy must reject: each marked line ends with ``# E: <part of the error>``.

Never run. ``tests/test_typing.py`` runs mypy on this file and expects an error on
every marked line, containing the fragment, and on no other line: a keyword that
stops being checked (``**kwargs: Any`` creeping back into a signature) or a return
type gone ``Any`` fails that test. Results are assigned, and coroutines awaited,
so that the only error on a line is the one it is there for; the ``assert_type``
line shows that a wrong expectation in ``check_*.py`` would be caught. (A misspelt
keyword on an overloaded method gets a second error on its line, "No overload
variant", which the test allows there.)
"""

from __future__ import annotations

from typing import assert_type

import xstream

MESSAGES = [{"role": "user", "content": "Hi"}]

# One call a line, so that the error mypy reports on a call's first line is on its mark.
# fmt: off


async def async_client(client: xstream.AsyncClient) -> None:
    # chat.completions: a misspelt keyword, a wrong type, a missing model, no such overload
    _ = await client.chat.completions.create(model="m", messages=MESSAGES, max_retires=1)  # E: Unexpected keyword argument "max_retires" for overloaded function "create" of "AsyncCompletions"; did you mean "max_retries"?
    _ = await client.chat.completions.create(model="m", messages=MESSAGES, temperature="hot")  # E: No overload variant of "create" of "AsyncCompletions" matches argument types "str", "list[dict[str, str]]", "str"
    _ = await client.chat.completions.create(messages=MESSAGES)  # E: No overload variant of "create" of "AsyncCompletions" matches argument type "list[dict[str, str]]"
    _ = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True, deferred=True)  # E: No overload variant of "create" of "AsyncCompletions" matches argument types "str", "list[dict[str, str]]", "bool", "bool"
    _ = await client.chat.completions.parse(model="m", messages=MESSAGES, temperature="hot")  # E: No overload variant of "parse" of "AsyncCompletions" matches argument types "str", "list[dict[str, str]]", "str"
    _ = await client.chat.completions.parse(model="m", messages=MESSAGES, max_retires=1)  # E: Unexpected keyword argument "max_retires" for overloaded function "parse" of "AsyncCompletions"; did you mean "max_retries"?
    _ = client.chat.completions.stream(model="m", messages=MESSAGES, stream=True)  # E: Unexpected keyword argument "stream" for overloaded function "stream" of "AsyncCompletions"
    _ = client.chat.completions.stream(messages=MESSAGES)  # E: No overload variant of "stream" of "AsyncCompletions" matches argument type "list[dict[str, str]]"
    _ = await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, max_retires=1)  # E: Unexpected keyword argument "max_retires" for "create" of "AsyncCompletionsWithRawResponse"
    # responses
    _ = await client.responses.create(model="m", input="hi", instruction="be brief")  # E: Unexpected keyword argument "instruction" for overloaded function "create" of "AsyncResponses"; did you mean "instructions"
    _ = await client.responses.create(model="m", input="hi", temperature="hot")  # E: No overload variant of "create" of "AsyncResponses" matches argument types "str", "str", "str"
    _ = await client.responses.create(input="hi")  # E: No overload variant of "create" of "AsyncResponses" matches argument type "str"
    _ = await client.responses.parse(model="m", input="hi", text_formt=dict)  # E: Unexpected keyword argument "text_formt" for overloaded function "parse" of "AsyncResponses"; did you mean "text_format"?
    _ = await client.responses.retrieve("resp_1", stram=True)  # E: Unexpected keyword argument "stram" for overloaded function "retrieve" of "AsyncResponses"
    # sse, the client's options
    _ = await client.sse("GET", "/events", reconect=False)  # E: Unexpected keyword argument "reconect" for overloaded function "__call__" of "AsyncSSE"
    _ = client.with_options(max_retires=1)  # E: Unexpected keyword argument "max_retires" for "with_options" of "AsyncClient"
    _ = xstream.AsyncClient(api_key="k", max_retires=1)  # E: Unexpected keyword argument "max_retires" for "AsyncClient"


def sync_client(client: xstream.Client) -> None:
    _ = client.chat.completions.create(model="m", messages=MESSAGES, max_retires=1)  # E: Unexpected keyword argument "max_retires" for overloaded function "create" of "Completions"; did you mean "max_retries"?
    _ = client.chat.completions.create(model="m", messages=MESSAGES, temperature="hot")  # E: No overload variant of "create" of "Completions" matches argument types "str", "list[dict[str, str]]", "str"
    _ = client.chat.completions.create(messages=MESSAGES)  # E: No overload variant of "create" of "Completions" matches argument type "list[dict[str, str]]"
    _ = client.chat.completions.parse(model="m", messages=MESSAGES, temperature="hot")  # E: No overload variant of "parse" of "Completions" matches argument types "str", "list[dict[str, str]]", "str"
    _ = client.chat.completions.stream(messages=MESSAGES)  # E: No overload variant of "stream" of "Completions" matches argument type "list[dict[str, str]]"
    _ = client.responses.create(model="m", input="hi", instruction="be brief")  # E: Unexpected keyword argument "instruction" for overloaded function "create" of "Responses"; did you mean "instructions"
    _ = client.responses.create(input="hi")  # E: No overload variant of "create" of "Responses" matches argument type "str"
    _ = client.sse("GET", "/events", reconect=False)  # E: Unexpected keyword argument "reconect" for overloaded function "__call__" of "SSE"
    _ = client.with_options(max_retires=1)  # E: Unexpected keyword argument "max_retires" for "with_options" of "Client"
    _ = xstream.Client(api_key="k", max_retires=1)  # E: Unexpected keyword argument "max_retires" for "Client"


async def wrong_use(client: xstream.AsyncClient, sync: xstream.Client) -> None:
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert_type(completion, xstream.Response)  # E: Expression is of type "ChatCompletion", not "Response"
    content: str = completion.choices[0].message.content  # E: Incompatible types in assignment (expression has type "str | None", variable has type "str")
    chunks = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    for _ in chunks:  # E: "AsyncStream[ChatCompletionChunk]" has no attribute "__iter__"
        pass
    async for _ in sync.chat.completions.create(model="m", messages=MESSAGES, stream=True):  # E: "Stream[ChatCompletionChunk]" has no attribute "__aiter__"
        pass
    response = await client.responses.create(model="m", input="hi")
    _ = response.output_text.missing  # E: "str" has no attribute "missing"
    try:
        print(content)
    except xstream.APIConnectionError as e:
        _ = e.status_code  # E: "APIConnectionError" has no attribute "status_code"
# fmt: on
