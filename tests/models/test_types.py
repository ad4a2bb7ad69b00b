"""Decoding every chunk shape real servers send, and building request bodies."""

from __future__ import annotations

import gc
import json
from typing import Any

import msgspec
import pytest

from xstream._models.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChoiceDelta,
    Function,
    ToolCall,
    decode_chunk,
    decode_completion,
    encode_request,
    message_list,
)

SEED = (
    b'{"id":"3d2c6b1e-7f0a-4f43-9c57-1f2b6e8a9d10","object":"chat.completion.chunk",'
    b'"created":1730000000,"model":"grok-2-latest",'
    b'"choices":[{"index":0,"delta":{"content":"Hi","role":"assistant"}}],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13,'
    b'"prompt_tokens_details":{"text_tokens":12,"audio_tokens":0,"image_tokens":0,'
    b'"cached_tokens":0}},"system_fingerprint":"fp_a1b2c3d4e5"}'
)


def chunk(data: bytes | str) -> ChatCompletionChunk:
    return decode_chunk(data)


# -- chunks ---------------------------------------------------------------------------


def test_seed_shape() -> None:
    c = chunk(SEED)
    assert c.id == "3d2c6b1e-7f0a-4f43-9c57-1f2b6e8a9d10"
    assert c.object == "chat.completion.chunk"
    assert c.created == 1730000000
    assert c.model == "grok-2-latest"
    assert c.system_fingerprint == "fp_a1b2c3d4e5"
    assert len(c.choices) == 1
    assert c.choices[0].index == 0
    assert c.choices[0].delta.content == "Hi"
    assert c.choices[0].delta.role == "assistant"
    assert c.choices[0].finish_reason is None
    assert c.usage is not None
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (12, 1, 13)
    details = c.usage.prompt_tokens_details
    assert details is not None
    assert details.text_tokens == 12
    assert (details.audio_tokens, details.image_tokens, details.cached_tokens) == (0, 0, 0)
    assert c.usage.completion_tokens_details is None
    assert c.error is None


def test_decoder_accepts_memoryview() -> None:
    assert chunk(memoryview(SEED)[:]) == chunk(SEED)  # type: ignore[arg-type]


def test_created_missing() -> None:
    c = chunk(b'{"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}')
    assert c.created is None
    assert c.choices[0].delta.content == "a"


def test_empty_object_is_all_defaults() -> None:
    c = chunk(b"{}")
    assert c == ChatCompletionChunk()
    assert (c.id, c.model, c.choices, c.usage, c.error) == ("", "", (), None, None)


@pytest.mark.parametrize(
    "choice",
    [
        b'{"index":0,"delta":{"content":"a"}}',
        b'{"index":0,"delta":{"content":"a"},"finish_reason":null}',
    ],
)
def test_finish_reason_omitted_or_null(choice: bytes) -> None:
    c = chunk(b'{"id":"x","choices":[' + choice + b"]}")
    assert c.choices[0].finish_reason is None


def test_finish_reason_set() -> None:
    c = chunk(b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    assert c.choices[0].finish_reason == "stop"
    assert c.choices[0].delta == ChoiceDelta()


def test_usage_null_on_every_chunk() -> None:
    c = chunk(b'{"id":"x","choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}')
    assert c.usage is None


@pytest.mark.parametrize(
    "choices",
    [b"[]", b'[{"index":0,"delta":{}}]', b'[{"index":0}]'],
    ids=["no-choices", "empty-delta", "no-delta"],
)
def test_final_usage_chunk(choices: bytes) -> None:
    c = chunk(
        b'{"id":"x","model":"m","choices":' + choices + b","
        b'"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}'
    )
    assert c.usage is not None
    assert c.usage.total_tokens == 12
    for choice in c.choices:
        assert choice.delta.content is None
        assert choice.delta.tool_calls is None


def test_missing_delta_gets_its_own_instance() -> None:
    a = chunk(b'{"choices":[{"index":0}]}').choices[0].delta
    b = chunk(b'{"choices":[{"index":0}]}').choices[0].delta
    assert a == ChoiceDelta()
    assert a is not b  # Structs are mutable: a shared default would leak between chunks


def test_non_ascii_raw_utf8() -> None:
    text = "héllo — 世界 👋🏽"
    data = json.dumps({"choices": [{"delta": {"content": text}}]}, ensure_ascii=False)
    assert chunk(data.encode()).choices[0].delta.content == text


def test_non_ascii_escaped_with_surrogate_pairs() -> None:
    c = chunk(
        b'{"choices":[{"delta":{"content":"h\\u00e9 \\u4e16 \\ud83d\\udc4b\\ud83c\\udffd"}}]}'
    )
    assert c.choices[0].delta.content == "hé 世 👋🏽"


def test_tool_call_deltas_split_over_chunks() -> None:
    first = chunk(
        b'{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":['
        b'{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}'
        b"]}}]}"
    )
    second = chunk(
        b'{"choices":[{"index":0,"delta":{"tool_calls":['
        b'{"index":0,"function":{"arguments":"{\\"city\\": "}}]}}]}'
    )
    third = chunk(
        b'{"choices":[{"index":0,"delta":{"tool_calls":['
        b'{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]},"finish_reason":"tool_calls"}]}'
    )
    calls = first.choices[0].delta.tool_calls
    assert calls is not None
    assert (calls[0].index, calls[0].id, calls[0].type) == (0, "call_1", "function")
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    pieces = []
    for c in (first, second, third):
        for call in c.choices[0].delta.tool_calls or ():
            assert call.function is not None
            pieces.append(call.function.arguments or "")
    assert json.loads("".join(pieces)) == {"city": "Paris"}
    later = second.choices[0].delta.tool_calls
    assert later is not None
    assert (later[0].id, later[0].type) == (None, None)
    assert later[0].function is not None
    assert later[0].function.name is None
    assert third.choices[0].finish_reason == "tool_calls"


def test_reasoning_content() -> None:
    c = chunk(
        b'{"choices":[{"index":0,"delta":{"reasoning_content":"Let me think","content":null}}]}'
    )
    assert c.choices[0].delta.reasoning_content == "Let me think"
    assert c.choices[0].delta.content is None


def test_citations() -> None:
    c = chunk(b'{"choices":[],"citations":["https://x.ai/a","https://x.ai/b"]}')
    assert c.citations == ("https://x.ai/a", "https://x.ai/b")


def test_refusal() -> None:
    c = chunk(b'{"choices":[{"index":0,"delta":{"refusal":"I cannot"}}]}')
    assert c.choices[0].delta.refusal == "I cannot"


def test_unknown_fields_at_every_level_are_kept() -> None:
    data = {
        "id": "x",
        "new_top": {"nested": [1, 2]},
        "x_groq": {"id": "req_1"},
        "choices": [
            {
                "index": 0,
                "extra_choice": True,
                "delta": {
                    "content": "a",
                    "audio": None,
                    "extra_delta": [1],
                    "tool_calls": [
                        {
                            "index": 0,
                            "extra_call": 1,
                            "function": {"name": "f", "extra_fn": "z"},
                        }
                    ],
                },
                "logprobs": {
                    "content": [
                        {
                            "token": "a",
                            "logprob": -0.5,
                            "extra_lp": 0,
                            "top_logprobs": [{"token": "a", "logprob": -0.5, "extra_top": 1}],
                        }
                    ],
                    "extra_lps": None,
                },
            }
        ],
        "usage": {
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "total_tokens": 3,
            "extra_usage": 4,
            "prompt_tokens_details": {"cached_tokens": 0, "extra_ptd": 1},
            "completion_tokens_details": {"reasoning_tokens": 0, "extra_ctd": 1},
        },
    }
    c = chunk(json.dumps(data).encode())
    assert c.choices[0].delta.content == "a"
    calls = c.choices[0].delta.tool_calls
    assert calls is not None
    assert calls[0].function is not None
    assert calls[0].function.name == "f"
    assert c.choices[0].logprobs is not None
    assert c.choices[0].logprobs.content is not None
    assert c.choices[0].logprobs.content[0].top_logprobs[0].logprob == -0.5
    assert c.usage is not None
    assert c.usage.total_tokens == 3
    assert c.extra_fields == {"new_top": {"nested": [1, 2]}, "x_groq": {"id": "req_1"}}
    assert c.choices[0].extra_fields == {"extra_choice": True}
    assert c.usage.extra_usage == 4
    assert c.usage.prompt_tokens_details is not None
    assert c.usage.prompt_tokens_details.extra_ptd == 1
    assert c.to_dict() == data


def test_logprobs() -> None:
    c = chunk(
        b'{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":['
        b'{"token":"Hi","logprob":-0.01,"bytes":[72,105],"top_logprobs":['
        b'{"token":"Hi","logprob":-0.01,"bytes":[72,105]},{"token":"Hey","logprob":-4.6,"bytes":null}]}'
        b'],"refusal":null}}]}'
    )
    logprobs = c.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.refusal is None
    assert logprobs.content is not None
    token = logprobs.content[0]
    assert (token.token, token.logprob, token.bytes) == ("Hi", -0.01, (72, 105))
    assert [t.token for t in token.top_logprobs] == ["Hi", "Hey"]
    assert token.top_logprobs[1].bytes is None


def test_logprobs_without_top_logprobs() -> None:
    c = chunk(b'{"choices":[{"delta":{},"logprobs":{"content":[{"token":"a","logprob":-1}]}}]}')
    assert c.choices[0].logprobs is not None
    assert c.choices[0].logprobs.content is not None
    assert c.choices[0].logprobs.content[0].top_logprobs == ()
    assert c.choices[0].logprobs.content[0].logprob == -1.0


def test_xai_usage_details() -> None:
    c = chunk(
        b'{"choices":[],"usage":{"prompt_tokens":30,"completion_tokens":120,"total_tokens":150,'
        b'"prompt_tokens_details":{"text_tokens":30,"audio_tokens":0,"image_tokens":0,"cached_tokens":6},'
        b'"completion_tokens_details":{"reasoning_tokens":100,"audio_tokens":0,'
        b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},'
        b'"num_sources_used":3}}'
    )
    usage = c.usage
    assert usage is not None
    assert usage.num_sources_used == 3
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 6
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 100
    assert usage.completion_tokens_details.rejected_prediction_tokens == 0


def test_n_choices_in_one_chunk() -> None:
    c = chunk(
        b'{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}'
    )
    assert [(ch.index, ch.delta.content) for ch in c.choices] == [(0, "a"), (1, "b")]


def test_error_object_in_data_event() -> None:
    c = chunk(b'{"error": {"message": "overloaded", "type": "overloaded_error"}}')
    assert c.error == {"message": "overloaded", "type": "overloaded_error"}
    assert (c.id, c.model, c.choices, c.usage, c.created) == ("", "", (), None, None)


def test_error_as_xai_string_is_set() -> None:
    c = chunk(b'{"code": "Service unavailable", "error": "The model is overloaded"}')
    assert c.error == "The model is overloaded"


def test_error_null_is_not_an_error() -> None:
    c = chunk(b'{"id":"x","choices":[{"index":0,"delta":{"content":"a"}}],"error":null}')
    assert c.error is None


def test_wrong_type_is_a_decode_error() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.choices\[0\]\.delta\.content"):
        chunk(b'{"choices":[{"index":0,"delta":{"content":5}}]}')


def test_decoded_chunk_is_not_tracked_by_gc() -> None:
    c = chunk(
        b'{"id":"x","choices":[{"index":0,"delta":{"content":"a","tool_calls":['
        b'{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]},'
        b'"logprobs":{"content":[{"token":"a","logprob":-1,"top_logprobs":[]}]}}],'
        b'"usage":{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":0}}}'
    )
    choice = c.choices[0]
    calls = choice.delta.tool_calls
    assert calls is not None
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    assert c.usage is not None
    objects = [
        c,
        choice,
        choice.delta,
        calls[0],
        calls[0].function,
        choice.logprobs,
        choice.logprobs.content[0],
        c.usage,
        c.usage.prompt_tokens_details,
    ]
    for obj in objects:
        assert not gc.is_tracked(obj), obj
    # Tuples start tracked and CPython untracks those holding only untracked
    # objects at their first collection; a list can never be untracked.
    gc.collect()
    assert not gc.is_tracked(c.choices)
    assert not gc.is_tracked(calls)


# -- completions ----------------------------------------------------------------------


def test_completion() -> None:
    data = (
        b'{"id":"c1","object":"chat.completion","created":1730000000,"model":"grok-2-latest",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":null,'
        b'"reasoning_content":"hmm","tool_calls":[{"id":"call_1","type":"function",'
        b'"function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},'
        b'"finish_reason":"tool_calls","extra":1}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},'
        b'"system_fingerprint":"fp_1","citations":["https://a"]}'
    )
    completion = decode_completion(data)
    assert isinstance(completion, ChatCompletion)
    assert completion.created == 1730000000
    message = completion.choices[0].message
    assert message.content is None
    assert message.reasoning_content == "hmm"
    assert message.tool_calls == (
        ToolCall(id="call_1", function=Function(name="get_weather", arguments='{"city":"Paris"}')),
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 3
    assert completion.citations == ("https://a",)


def test_completion_minimal() -> None:
    completion = decode_completion(b'{"choices":[{"message":{"content":"hi"}}]}')
    assert completion.created is None
    assert completion.choices[0].message == ChatCompletionMessage(content="hi")
    assert completion.choices[0].message.role == "assistant"


# -- request bodies -------------------------------------------------------------------

MESSAGES = [{"role": "user", "content": "Hi"}]


def body(**kw: Any) -> dict[str, Any]:
    params = kw.pop("params", {})
    result: dict[str, Any] = json.loads(
        encode_request(
            kw.pop("model", "grok-2-latest"), kw.pop("messages", MESSAGES), params=params, **kw
        )
    )
    return result


def test_request_minimal() -> None:
    assert body(stream=True) == {"model": "grok-2-latest", "messages": MESSAGES, "stream": True}


def test_request_known_params_and_none_omitted() -> None:
    params = {
        "temperature": 0.5,
        "max_tokens": 10,
        "stop": ["\n"],
        "seed": None,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
        "stream_options": {"include_usage": True},
        "search_parameters": {"mode": "auto"},
        "reasoning_effort": "low",
        "logit_bias": {50256: -100},
        "top_p": None,
    }
    assert body(stream=True, params=params) == {
        "model": "grok-2-latest",
        "messages": MESSAGES,
        "stream": True,
        "temperature": 0.5,
        "max_tokens": 10,
        "stop": ["\n"],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
        "stream_options": {"include_usage": True},
        "search_parameters": {"mode": "auto"},
        "reasoning_effort": "low",
        "logit_bias": {"50256": -100},
    }


def test_request_values_are_sent_as_given() -> None:
    sent = body(stream=False, params={"temperature": 1, "logit_bias": {"1": 5}})
    raw = encode_request("m", MESSAGES, stream=False, params={"temperature": 1})
    assert b'"temperature":1' in raw and b'"temperature":1.0' not in raw
    assert sent["logit_bias"] == {"1": 5}


def test_request_unknown_params_pass_through() -> None:
    sent = body(
        stream=False, params={"top_k": 40, "repetition_penalty": 1.1, "guided_json": {"a": 1}}
    )
    assert sent["top_k"] == 40
    assert sent["repetition_penalty"] == 1.1
    assert sent["guided_json"] == {"a": 1}


def test_request_extra_body_wins() -> None:
    sent = body(
        stream=False,
        params={"temperature": 0.5, "top_k": 1},
        extra_body={"temperature": 0.9, "top_k": 2, "stream": True, "custom": None},
    )
    assert sent["temperature"] == 0.9
    assert sent["top_k"] == 2
    assert sent["stream"] is True
    assert sent["custom"] is None  # extra_body is sent exactly as given


def test_request_messages_are_kept_as_given() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}], "name": "ann", "x_vendor": 1},
    ]
    assert body(messages=messages, stream=False)["messages"] == messages
    assert body(messages=(m for m in messages), stream=False)["messages"] == messages


def test_request_accepts_assistant_message_struct() -> None:
    previous = ChatCompletionMessage(
        content=None,
        reasoning_content="thinking...",
        tool_calls=(ToolCall(id="call_1", function=Function(name="f", arguments='{"a":1}')),),
    )
    messages = [
        {"role": "user", "content": "Hi"},
        previous,
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ChatCompletionMessage(content="Hello"),
    ]
    assert body(messages=messages, stream=False)["messages"] == [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"a":1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_request_accepts_other_structs_in_messages() -> None:
    class UserMessage(msgspec.Struct):
        content: str
        role: str = "user"

    assert body(messages=[UserMessage("Hi")], stream=False)["messages"] == [
        {"content": "Hi", "role": "user"}
    ]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"n": True}, "n"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"stop": ["a", 1]}, "stop"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"stream_options": True}, "stream_options"),
        ({"logprobs": "yes"}, "logprobs"),
    ],
)
def test_request_wrong_type_names_the_parameter(params: dict[str, Any], name: str) -> None:
    with pytest.raises(TypeError, match=f"parameter '{name}'"):
        encode_request("m", MESSAGES, stream=True, params=params)


def test_request_wrong_model_type() -> None:
    with pytest.raises(TypeError, match="parameter 'model'"):
        encode_request(None, MESSAGES, stream=True, params={})  # type: ignore[arg-type]


@pytest.mark.parametrize("messages", ["Hi", b"Hi", {"role": "user", "content": "Hi"}, None, 3])
def test_request_messages_must_be_a_sequence_of_messages(messages: Any) -> None:
    with pytest.raises(TypeError, match="messages must be a list") as info:
        encode_request("m", messages, stream=True, params={})
    assert type(messages).__name__ in str(info.value)


def test_messages_from_any_iterable_are_sent_as_a_list() -> None:
    one = {"role": "user", "content": "Hi"}
    assert message_list(iter([one])) == [one] and message_list((one,)) == [one]
    body = encode_request("m", (m for m in [one]), stream=True, params={})
    assert json.loads(body)["messages"] == [one]


def test_request_struct_omits_unset_fields() -> None:
    request = ChatCompletionRequest(model="m", messages=MESSAGES, temperature=0.2)
    assert json.loads(msgspec.json.encode(request)) == {
        "model": "m",
        "messages": MESSAGES,
        "temperature": 0.2,
    }


def test_the_checked_request_is_the_declared_parameters() -> None:
    # one declaration (ChatCompletionCreateParams): every API parameter in it is checked
    from xstream._models.params import NOT_SENT, ChatCompletionCreateParams, RequestOptions

    declared = (
        ChatCompletionCreateParams.__required_keys__ | ChatCompletionCreateParams.__optional_keys__
    )
    assert RequestOptions.__optional_keys__ | {"conversation_id", "accumulate"} <= NOT_SENT
    api = declared - NOT_SENT
    assert {f.name for f in msgspec.structs.fields(ChatCompletionRequest)} == api | {"stream"}
    with pytest.raises(TypeError, match="parameter 'verbosity'"):
        encode_request("m", MESSAGES, stream=True, params={"verbosity": 3})
    with pytest.raises(TypeError, match="parameter 'logit_bias'"):
        encode_request("m", MESSAGES, stream=True, params={"logit_bias": {"1": "x"}})
    body = encode_request("m", MESSAGES, stream=True, params={"logit_bias": {1: -100, "2": 5}})
    assert json.loads(body)["logit_bias"] == {"1": -100, "2": 5}
