#!/usr/bin/env python3
"""Real OpenAI-API clients against a running `nibble serve`, as their users' code calls them.

Groups (all by default; `--only openai,langchain` picks some):
  openai     the official client: models, base URL with and without /v1, logprobs (checked against the
             transformers reference), echo loglikelihoods, n with indexes and seeds, logit_bias, json_schema
             (validated with `jsonschema`), tools with tool_choice required / named, streamed tool-call deltas
  langchain  langchain-openai ChatOpenAI: invoke, stream, batch, with_structured_output (function_calling,
             json_schema, json_mode) and bind_tools
  litellm    litellm.completion, whole and streamed
  lm-eval    lm-evaluation-harness `local-completions` on a local loglikelihood task built from the reference
             (no hub access); its per-sample loglikelihoods must equal the reference within 1e-3

Usage: scripts/client-checks.py --base-url http://127.0.0.1:8080 --model NAME [--only GROUPS]
                                [--reference shared/reference/smollm2/smollm2-logprobs.json]
Exit status 0 when every check passes; each check prints one line, failures are listed at the end.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import traceback

TOLERANCE = 1e-3
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current time in a time zone",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}
PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "hobbies": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    },
    "required": ["name", "age", "hobbies"],
    "additionalProperties": False,
}


# MARK: - openai

def openai_checks(args, reference):
    import jsonschema
    import openai

    client = openai.OpenAI(base_url=args.base_url + "/v1", api_key="unused", max_retries=0, timeout=300)
    bare = openai.OpenAI(base_url=args.base_url, api_key="unused", max_retries=0, timeout=300)

    ids = [m.id for m in client.models.list().data]
    check(args.model in ids, f"openai: /v1/models lists {args.model}")
    check(client.models.retrieve(args.model).id == args.model, "openai: models.retrieve")
    check(args.model in [m.id for m in bare.models.list().data], "openai: /models without /v1")
    plain = bare.chat.completions.create(model=args.model, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    check(plain.choices[0].message.role == "assistant", "openai: chat completions without /v1")

    # Logprobs of greedy steps against transformers.
    for case in reference["generation"]:
        steps = case["steps"]
        result = client.completions.create(model=args.model, prompt=case["prompt"], max_tokens=len(steps),
                                           temperature=0, logprobs=5)
        lp = result.choices[0].logprobs
        got = lp.token_logprobs if lp else []
        ok = len(got) == len(steps) and all(abs(g - s["logprob"]) <= TOLERANCE for g, s in zip(got, steps))
        check(ok, f"openai: completion logprobs of {case['prompt']!r} equal transformers within {TOLERANCE}")
        tops = lp.top_logprobs if lp else []
        want_top = {t["token"]: t["logprob"] for t in steps[0]["top"][:5]}
        got_top = tops[0] if tops else {}
        ok = len(got_top) == 5 and all(abs(got_top.get(k, -1e9) - v) <= TOLERANCE for k, v in want_top.items())
        check(ok, f"openai: top_logprobs of the first step of {case['prompt']!r}")
        check(lp is not None and len(lp.text_offset) == len(steps), "openai: text_offset per token")

    chat = client.chat.completions.create(model=args.model, messages=[{"role": "user", "content": "Name a fruit."}],
                                          max_tokens=6, temperature=0, logprobs=True, top_logprobs=3)
    content = chat.choices[0].logprobs.content if chat.choices[0].logprobs else []
    check(len(content) >= 1 and all(len(c.top_logprobs) == 3 and c.bytes is not None for c in content),
          "openai: chat logprobs with top_logprobs and bytes")
    check(all(c.logprob >= c.top_logprobs[0].logprob - TOLERANCE for c in content),
          "openai: greedy chat tokens are their step's most likely")
    streamed = client.chat.completions.create(model=args.model, messages=[{"role": "user", "content": "Name a fruit."}],
                                              max_tokens=6, temperature=0, logprobs=True, top_logprobs=3, stream=True)
    streamed_lp = [c for chunk in streamed for choice in chunk.choices if choice.logprobs
                   for c in (choice.logprobs.content or [])]
    check([c.token for c in streamed_lp] == [c.token for c in content]
          and all(abs(a.logprob - b.logprob) <= 1e-6 for a, b in zip(streamed_lp, content)),
          "openai: streamed chat logprobs equal the whole response's")

    # Echo: the loglikelihood requests of lm-evaluation-harness.
    for case in reference["loglikelihood"]:
        result = client.completions.create(model=args.model, prompt=case["context"] + case["continuation"],
                                           max_tokens=0, echo=True, logprobs=1, temperature=0)
        lp = result.choices[0].logprobs
        values = lp.token_logprobs if lp else []
        ok = len(values) == len(case["token_logprobs"]) and values[0] is None
        total = sum(values[-case["continuation_tokens"]:]) if ok else float("nan")
        check(ok and abs(total - case["continuation_logprob"]) <= TOLERANCE,
              f"openai: echo loglikelihood of {case['continuation']!r} after {case['context']!r} "
              f"({total:.5f} vs {case['continuation_logprob']:.5f})")
    ids_prompt = client.completions.create(model=args.model, prompt=[reference["loglikelihood"][0]["prompt_ids"]],
                                           max_tokens=0, echo=True, logprobs=1)
    check(ids_prompt.choices[0].logprobs.token_logprobs[0] is None, "openai: token-id prompt with echo")
    several = client.completions.create(model=args.model, prompt=["In the beginning", "Once upon a time"], max_tokens=4,
                                        temperature=0)
    check(sorted(c.index for c in several.choices) == [0, 1], "openai: a list of prompts gives one choice each")

    # n choices, seeded.
    sampled = dict(model=args.model, prompt="My favourite fruit is", max_tokens=8, temperature=1.0, seed=7, n=3)
    first = client.completions.create(**sampled)
    again = client.completions.create(**sampled)
    check(sorted(c.index for c in first.choices) == [0, 1, 2], "openai: n=3 gives indexes 0, 1, 2")
    check([c.text for c in sorted(first.choices, key=lambda c: c.index)]
          == [c.text for c in sorted(again.choices, key=lambda c: c.index)], "openai: a seeded n=3 run repeats")
    indexes = {choice.index for chunk in client.completions.create(stream=True, **sampled) for choice in chunk.choices}
    check(indexes == {0, 1, 2}, "openai: streamed n=3 chunks carry their indexes")

    # logit_bias: ban the greedy first token.
    greedy = client.completions.create(model=args.model, prompt="My favourite fruit is", max_tokens=1, temperature=0,
                                       logprobs=1)
    banned_token = reference["generation"][0]["steps"][0]["token_id"]
    biased = client.completions.create(model=args.model, prompt="My favourite fruit is", max_tokens=1, temperature=0,
                                       logit_bias={str(banned_token): -100}, logprobs=1)
    check(greedy.choices[0].text != biased.choices[0].text, "openai: logit_bias -100 bans the greedy token")

    # Structured output.
    structured = client.chat.completions.create(
        model=args.model, messages=[{"role": "user", "content": "Describe a person as JSON."}], max_tokens=120,
        temperature=0, response_format={"type": "json_schema",
                                        "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}})
    try:
        jsonschema.validate(json.loads(structured.choices[0].message.content), PERSON_SCHEMA)
        check(True, "openai: json_schema output parses and validates")
    except Exception as error:  # noqa: BLE001 - the check reports any failure
        check(False, f"openai: json_schema output parses and validates ({error}): {structured.choices[0].message.content!r}")
    mode = client.chat.completions.create(model=args.model, max_tokens=200, temperature=0,
                                          messages=[{"role": "user", "content": "Give me a small JSON object with a "
                                                     "name and an age."}],
                                          response_format={"type": "json_object"})
    try:
        check(isinstance(json.loads(mode.choices[0].message.content), dict), "openai: json_object output is an object")
    except ValueError:
        check(False, f"openai: json_object output is an object: {mode.choices[0].message.content!r}")

    # Tools.
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    for choice in ["required", {"type": "function", "function": {"name": "get_weather"}}]:
        reply = client.chat.completions.create(model=args.model, messages=messages, tools=[WEATHER_TOOL, TIME_TOOL],
                                               tool_choice=choice, parallel_tool_calls=False, max_tokens=80,
                                               temperature=0)
        calls = reply.choices[0].message.tool_calls or []
        ok = bool(calls) and reply.choices[0].finish_reason == "tool_calls"
        if ok:
            call = calls[0]
            wanted = "get_weather" if isinstance(choice, dict) else call.function.name
            tool = WEATHER_TOOL if call.function.name == "get_weather" else TIME_TOOL
            try:
                jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])
                ok = call.function.name == wanted and call.type == "function" and bool(call.id)
            except Exception:  # noqa: BLE001
                ok = False
        check(ok, f"openai: tool_choice {json.dumps(choice)} gives a valid call")
    stream = client.chat.completions.create(model=args.model, messages=messages, tools=[WEATHER_TOOL],
                                            tool_choice="required", parallel_tool_calls=False, max_tokens=80,
                                            temperature=0, stream=True)
    name, arguments, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                name += delta.function.name or "" if delta.function else ""
                arguments += delta.function.arguments or "" if delta.function else ""
            finish = choice.finish_reason or finish
    try:
        check(name == "get_weather" and "city" in json.loads(arguments) and finish == "tool_calls",
              "openai: streamed tool-call deltas assemble into a valid call")
    except ValueError:
        check(False, f"openai: streamed tool-call deltas assemble into a valid call ({arguments!r})")


# MARK: - langchain

def langchain_checks(args, reference):
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, Field

    llm = ChatOpenAI(base_url=args.base_url + "/v1", api_key="unused", model=args.model, temperature=0, max_tokens=80,
                     max_retries=0, timeout=300)
    check(isinstance(llm.invoke("Say hello.").content, str), "langchain: invoke")
    check(len("".join(chunk.content for chunk in llm.stream("Say hello."))) > 0, "langchain: stream")
    check(len(llm.batch(["Say hello.", "Say goodbye."])) == 2, "langchain: batch")

    class Person(BaseModel):
        """A person."""
        name: str = Field(description="the person's name")
        age: int = Field(description="age in years")

    for method in ["function_calling", "json_schema", "json_mode"]:
        structured = ChatOpenAI(base_url=args.base_url + "/v1", api_key="unused", model=args.model, temperature=0,
                                max_tokens=80, max_retries=0, timeout=300).with_structured_output(Person, method=method)
        prompt = "Describe a person named Ann, aged 30."
        if method == "json_mode":
            prompt += " Answer in JSON with the keys name and age."
        try:
            result = structured.invoke(prompt)
            check(isinstance(result, Person), f"langchain: with_structured_output({method}) gives a Person")
        except Exception as error:  # noqa: BLE001
            check(False, f"langchain: with_structured_output({method}) ({type(error).__name__}: {error})")

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return "sunny"

    bound = llm.bind_tools([get_weather], tool_choice="required", parallel_tool_calls=False)
    message = bound.invoke("What is the weather in Paris?")
    check(bool(message.tool_calls) and message.tool_calls[0]["name"] == "get_weather"
          and "city" in message.tool_calls[0]["args"], "langchain: bind_tools gives a get_weather call")


# MARK: - litellm

def litellm_checks(args, reference):
    import litellm

    common = dict(model="openai/" + args.model, api_base=args.base_url + "/v1", api_key="unused",
                  messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0)
    whole = litellm.completion(**common)
    text = whole.choices[0].message.content
    check(isinstance(text, str) and whole.usage.completion_tokens >= 1, "litellm: completion")
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in litellm.completion(stream=True, **common))
    check(streamed == text, "litellm: streamed text equals the whole response")


# MARK: - lm-evaluation-harness

def lm_eval_checks(args, reference):
    with tempfile.TemporaryDirectory() as scratch:
        # The harness tokenizes requests itself, here with the server's tokenizer (its `remote` backend:
        # /tokenizer_info, /tokenize, /detokenize), then sends token ids.
        data = os.path.join(scratch, "cases.jsonl")
        with open(data, "w") as out:
            for case in reference["loglikelihood"]:
                out.write(json.dumps({"context": case["context"], "continuation": case["continuation"]}) + "\n")
        tasks = os.path.join(scratch, "tasks")
        os.makedirs(tasks)
        with open(os.path.join(tasks, "nibble_loglikelihood.yaml"), "w") as out:
            out.write(f"""task: nibble_loglikelihood
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood
doc_to_text: "{{{{context}}}}"
doc_to_target: "{{{{continuation}}}}"
target_delimiter: ""
metric_list:
  - metric: perplexity
    aggregation: perplexity
    higher_is_better: false
  - metric: acc
    aggregation: mean
    higher_is_better: true
""")
        output = os.path.join(scratch, "out")
        # DISABLE_MULTIPROC: the harness's stderr bootstrap otherwise forks a process pool while its progress bar
        # holds a lock, and a forked worker can wait on that lock for ever.
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   HF_DATASETS_CACHE=os.path.join(scratch, "datasets"), TOKENIZERS_PARALLELISM="false",
                   DISABLE_MULTIPROC="1")
        command = [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args",
                   f"model={args.model},base_url={args.base_url}/v1/completions,"
                   "tokenizer_backend=remote,num_concurrent=1,max_retries=1,tokenized_requests=True",
                   "--tasks", "nibble_loglikelihood", "--include_path", tasks, "--log_samples",
                   "--output_path", output, "--batch_size", "1"]
        try:
            run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as expired:
            check(False, "lm-eval: local-completions finished within 10 minutes")
            print(str(expired.stdout)[-3000:], str(expired.stderr)[-3000:])
            return
        if not check(run.returncode == 0, "lm-eval: local-completions runs the local loglikelihood task"):
            print(run.stdout[-3000:], run.stderr[-3000:])
            return
        samples = []
        for root, _, files in os.walk(output):
            for name in files:
                if name.startswith("samples_nibble_loglikelihood") and name.endswith(".jsonl"):
                    with open(os.path.join(root, name)) as handle:
                        samples += [json.loads(line) for line in handle if line.strip()]
        check(len(samples) == len(reference["loglikelihood"]), f"lm-eval: {len(samples)} samples logged")
        for sample in sorted(samples, key=lambda s: s["doc_id"]):
            case = reference["loglikelihood"][sample["doc_id"]]
            loglikelihood, is_greedy = sample["resps"][0][0]  # logged as strings: "-6.26…", "False"
            check(abs(float(loglikelihood) - case["continuation_logprob"]) <= TOLERANCE
                  and str(is_greedy) == str(case["is_greedy"]),
                  f"lm-eval: loglikelihood of {case['continuation']!r} = {float(loglikelihood):.5f} "
                  f"(transformers {case['continuation_logprob']:.5f})")


GROUPS = {"openai": openai_checks, "langchain": langchain_checks, "litellm": litellm_checks, "lm-eval": lm_eval_checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080", help="the server, without /v1")
    parser.add_argument("--model", required=True)
    parser.add_argument("--only", default=",".join(GROUPS))
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--reference", default=os.path.join(
        os.environ.get("NIBBLE_SHARED", os.path.join(here, "..", "..", "shared")),
        "reference", "smollm2", "smollm2-logprobs.json"))
    args = parser.parse_args()
    args.base_url = args.base_url.rstrip("/")
    with open(args.reference) as handle:
        reference = json.load(handle)
    for name in args.only.split(","):
        try:
            GROUPS[name](args, reference)
        except Exception as error:  # noqa: BLE001 - a client error fails its group and the run goes on
            traceback.print_exc()
            check(False, f"{name}: {type(error).__name__}: {error}")
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
