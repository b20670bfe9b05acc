#!/usr/bin/env python3
"""Reads logprobs, echo, n and logit_bias from a running `nibble serve` with the official `openai` client.

Checks what lm-evaluation-harness `local-completions` sends for loglikelihoods (echo, max_tokens 0, logprobs 1,
token-id prompts), legacy completion logprobs, chat logprobs streamed and whole, n choices with their indices,
and a banned token, through the client's own response types.

Usage: scripts/openai-logprobs-check.py [--base-url http://127.0.0.1:8080/v1] [--model kjv-llama-4m]
Exit status 0 when every check passes; the failing check is printed otherwise.
"""
import argparse
import json
import math
import sys
import urllib.request

import openai


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--model", default="kjv-llama-4m")
    parser.add_argument("--api-key", default="unused")
    args = parser.parse_args()

    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=120)
    failures = []

    def check(condition, what):
        print(("ok   " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    # lm-evaluation-harness loglikelihood: echo the prompts, generate nothing, one alternative per token.
    root = args.base_url.rsplit("/v1", 1)[0]

    def tokenize(text):
        request = urllib.request.Request(root + "/tokenize", data=json.dumps({"content": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(request))["tokens"]

    longer = tokenize("In the beginning God created the heaven")
    prompts = [longer[:4], longer]
    scored = client.completions.create(model=args.model, prompt=prompts, echo=True, max_tokens=0, logprobs=1,
                                       temperature=0)
    check([c.index for c in scored.choices] == [0, 1], "one choice per prompt, in order")
    for choice, prompt in zip(scored.choices, prompts):
        lp = choice.logprobs
        check(lp is not None and len(lp.token_logprobs) == len(prompt), "a logprob per prompt token")
        check(lp.token_logprobs[0] is None and lp.top_logprobs[0] is None, "the first token has none")
        check(all(v <= 0 and math.isfinite(v) for v in lp.token_logprobs[1:]), "logprobs are finite and <= 0")
        check(all(len(top) >= 1 for top in lp.top_logprobs[1:]), "top_logprobs hold the most likely token")
        check(lp.text_offset == sorted(lp.text_offset), "text offsets grow")
    # The shorter prompt is a prefix of the longer: its tokens score the same.
    a, b = scored.choices[0].logprobs.token_logprobs, scored.choices[1].logprobs.token_logprobs
    check(all(abs(x - y) < 1e-4 for x, y in zip(a[1:], b[1:len(a)])), "a shared prefix scores the same")

    # Legacy logprobs of generated tokens, whole and streamed.
    params = dict(model=args.model, prompt="In the beginning", max_tokens=8, temperature=0, logprobs=3)
    whole = client.completions.create(**params)
    tokens = whole.choices[0].logprobs.tokens
    check(len(tokens) == whole.usage.completion_tokens, "a logprob per generated token")
    check(whole.choices[0].finish_reason != "length" or "".join(tokens) == whole.choices[0].text, "tokens spell the text")
    streamed = []
    for chunk in client.completions.create(stream=True, **params):
        for choice in chunk.choices:
            if choice.logprobs is not None:
                streamed += choice.logprobs.tokens
    check(streamed == tokens, f"streamed tokens equal the whole ones ({streamed} vs {tokens})")

    # Chat: logprobs with alternatives, n choices, streamed and whole.
    messages = [{"role": "user", "content": "Who made the heaven?"}]
    chat = client.chat.completions.create(model=args.model, messages=messages, max_tokens=6, temperature=0,
                                          logprobs=True, top_logprobs=2, n=2)
    check([c.index for c in chat.choices] == [0, 1], "n = 2 chat choices")
    content = chat.choices[0].logprobs.content
    check(all(len(entry.top_logprobs) == 2 and entry.bytes is not None for entry in content), "chat top_logprobs and bytes")
    check(chat.choices[0].message.content == chat.choices[1].message.content, "greedy choices agree")
    seen = {}
    for chunk in client.chat.completions.create(model=args.model, messages=messages, max_tokens=6, temperature=0,
                                                logprobs=True, top_logprobs=2, stream=True):
        for choice in chunk.choices:
            if choice.logprobs is not None and choice.logprobs.content:
                seen.setdefault(choice.index, []).extend(e.token for e in choice.logprobs.content)
    check(seen.get(0) == [e.token for e in content], "streamed chat logprobs equal the whole ones")

    # logit_bias -100 bans the greedy first token.
    first = client.completions.create(model=args.model, prompt="In the beginning", max_tokens=1, temperature=0,
                                      logprobs=2)
    top = first.choices[0].logprobs.top_logprobs[0]
    greedy_id = tokenize("In the beginning" + first.choices[0].text)[-1]
    banned = client.completions.create(model=args.model, prompt="In the beginning", max_tokens=1, temperature=0,
                                       logprobs=2, logit_bias={str(greedy_id): -100})
    check(banned.choices[0].logprobs.tokens[0] != first.choices[0].logprobs.tokens[0], "a banned token is not picked")
    check(banned.choices[0].logprobs.tokens[0] in top, "the next most likely is picked instead")

    try:
        client.completions.create(model=args.model, prompt="x", max_tokens=0)
        check(False, "max_tokens 0 without echo raises BadRequestError")
    except openai.BadRequestError as error:
        check("max_tokens" in str(error), "max_tokens 0 without echo raises BadRequestError naming max_tokens")

    print(f"{len(failures)} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
