#!/usr/bin/env python3
"""Talks to a running `nibble serve` with the official `openai` client, as users' code would.

Checks that a streamed completion and a streamed chat completion arrive as the client expects
(chunks, finish_reason, usage with stream_options.include_usage), and that the streamed text equals the
non-streamed text for the same seed.

Usage: scripts/openai-client-check.py [--base-url http://127.0.0.1:8080/v1] [--model kjv-llama-4m] [--api-key KEY]
Exit status 0 when every check passes; the failing check is printed otherwise.
"""
import argparse
import sys

import openai


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--model", default="kjv-llama-4m")
    parser.add_argument("--api-key", default="unused")
    args = parser.parse_args()

    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=60)
    failures = []

    def check(condition, what):
        print(("ok   " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    models = [m.id for m in client.models.list().data]
    check(args.model in models, f"/v1/models lists {args.model} (got {models})")

    params = dict(model=args.model, max_tokens=16, temperature=0.8, top_p=0.95, seed=1234)

    # Completions: streamed and whole.
    whole = client.completions.create(prompt="In the beginning", **params)
    text = whole.choices[0].text
    check(whole.choices[0].finish_reason in ("stop", "length"), f"completion finish_reason {whole.choices[0].finish_reason}")
    check(whole.usage is not None and whole.usage.completion_tokens > 0, "completion usage")
    streamed, finish, usage = "", None, None
    for chunk in client.completions.create(prompt="In the beginning", stream=True,
                                           stream_options={"include_usage": True}, **params):
        for choice in chunk.choices:
            streamed += choice.text or ""
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    check(streamed == text, f"streamed completion equals the whole one ({streamed!r} vs {text!r})")
    check(finish in ("stop", "length"), f"streamed completion finish_reason {finish}")
    check(usage is not None and usage.completion_tokens == whole.usage.completion_tokens, "streamed completion usage")

    # Chat completions: streamed and whole.
    messages = [{"role": "user", "content": "Who made the heaven and the earth?"}]
    whole_chat = client.chat.completions.create(messages=messages, **params)
    reply = whole_chat.choices[0].message.content
    check(whole_chat.choices[0].message.role == "assistant", "chat reply role")
    streamed, finish, usage = "", None, None
    for chunk in client.chat.completions.create(messages=messages, stream=True,
                                                stream_options={"include_usage": True}, **params):
        for choice in chunk.choices:
            streamed += choice.delta.content or ""
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    check(streamed == reply, f"streamed chat equals the whole one ({streamed!r} vs {reply!r})")
    check(finish in ("stop", "length"), f"streamed chat finish_reason {finish}")
    check(usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, "streamed chat usage")

    # Errors surface as the client's typed exceptions.
    try:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
        check(False, "unknown model raises NotFoundError")
    except openai.NotFoundError:
        check(True, "unknown model raises NotFoundError")
    try:
        client.completions.create(model=args.model, prompt="x", max_tokens=1, top_p=3)
        check(False, "bad top_p raises BadRequestError")
    except openai.BadRequestError as error:
        check("top_p" in str(error), "bad top_p raises BadRequestError naming top_p")

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
