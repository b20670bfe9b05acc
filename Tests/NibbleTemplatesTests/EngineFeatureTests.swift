import Foundation
import NibbleTemplates
import Testing

/// The constructs real chat templates use, each rendered by the engine and by jinja2 (`Jinja2Reference`),
/// which must agree byte for byte, or both raise.
@Suite("Template engine against jinja2", .enabled(if: Jinja2Reference.available, "needs python3 with jinja2 (pip install jinja2)"))
struct EngineFeatureTests {
    static let variables = #"""
    {"messages": [{"role": "system", "content": "  Be brief.  "},
                  {"role": "user", "content": "Hi, café ☕\n\tthere"},
                  {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}]},
                  {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "22 C"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
                               "required": ["city"]}}}],
     "d": {"b": 2, "a": 1, "C": 3}, "n": 7, "f": 2.5, "s": "Hello World", "empty": [], "nested": [[1, 2], [3]],
     "words": ["b", "A", "a", "c"], "bos_token": "<s>", "flag": true, "nothing": null}
    """#

    static let templates: [String] = [
        // Output, literals and operators
        "{{ 'a' ~ 1 ~ none ~ true }}|{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ -7 // 2 }}|{{ 2 ** 10 }}|{{ 7 / 2 }}",
        "{{ \"dq\" }}|{{ 'it\\'s' }}|{{ '\\n'|length }}|{{ 1.5 + 1 }}|{{ 1e3 }}|{{ 0.1 + 0.2 }}|{{ [1, 'a', none, true] }}",
        "{{ {'k': 1, 'l': [1, 2]} }}|{{ (1, 2)|list }}|{{ n > 3 and n < 10 }}|{{ not flag }}|{{ n if flag else 0 }}|{{ 'x' if false }}",
        "{{ s[0] }}|{{ s[-1] }}|{{ s[1:4] }}|{{ s[::-1] }}|{{ s[::2] }}|{{ words[1:] }}|{{ words[-2:] }}|{{ words[:-1] }}",
        "{{ 'o' in s }}|{{ 'z' not in s }}|{{ 2 in [1, 2] }}|{{ 'a' in d }}|{{ 'zz' in d }}|{{ 1 == 1.0 }}|{{ 'a' < 'b' }}",
        "{{ s * 2 }}|{{ [1] * 3 }}|{{ [1] + [2] }}|{{ 'a' + 'b' }}|{{ n - 10 }}|{{ -n }}|{{ +f }}",
        // Whitespace control, trim_blocks and lstrip_blocks
        "a\n  {% if true %}\n  b\n  {% endif %}\nc\n{{- ' d ' -}}\n e {# comment #}\nf\n    {#- c2 -#}  g",
        "{% for m in messages %}\n    {{ m.role }}\n{% endfor %}\n{%+ if true %}x{% endif %}\n  {%- if true %} y{% endif %}",
        // if / elif / else, for with loop.*, else, filter condition, break/continue
        "{% if n < 5 %}small{% elif n < 10 %}medium{% else %}large{% endif %}",
        "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
        "{% for x in words %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }}|{{ loop.cycle('o', 'e') }} {% endfor %}",
        "{% for x in empty %}{{ x }}{% else %}none{% endfor %}|{% for x in words if x != 'a' %}{{ x }}{{ loop.index }}{% endfor %}",
        "{% for x in words %}{% if x == 'a' %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in words %}{% if x == 'A' %}{% continue %}{% endif %}{{ x }}{% endfor %}",
        "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}",
        "{% for c in 'héllo' %}{{ c }}.{% endfor %}|{% for i in range(3) %}{{ i }}{% endfor %}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, -2)|list }}",
        // set, block set, namespace, scoping
        "{% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{% endfor %}{{ x }}|{% set a, b = 1, 2 %}{{ a }}{{ b }}",
        "{% set ns = namespace(total=0, seen=[]) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% set ns.seen = ns.seen + [i] %}{% endfor %}{{ ns.total }}{{ ns.seen }}",
        "{% set block %}  inner {{ n }}  {% endset %}[{{ block }}]|{% set up | upper %}shout{% endset %}{{ up }}",
        // macro, call, filter blocks
        "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }}|{{ greet('Bo', punct='?') }}|{{ greet(name='Cy') }}",
        "{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}inside{% endcall %}|{% macro v() %}{{ varargs|list }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}",
        "{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(4) }}|{% filter upper %}up {{ s }}{% endfilter %}",
        // Tests
        "{{ nothing is none }}{{ missing is defined }}{{ missing is undefined }}{{ s is string }}{{ d is mapping }}{{ words is iterable }}{{ words is sequence }}",
        "{{ n is number }}{{ f is number }}{{ flag is boolean }}{{ flag is true }}{{ flag is false }}{{ n is odd }}{{ n is even }}{{ n is divisibleby 7 }}",
        "{{ n is equalto 7 }}{{ n is eq 7 }}{{ n is ne 7 }}{{ s is lower }}{{ 'ab' is lower }}{{ n is integer }}{{ f is float }}{{ s is not none }}{{ 'a' is in words }}",
        "{{ d is iterable }}{{ n is iterable }}{{ s is sequence }}{{ nothing is mapping }}{{ n is gt 3 }}{{ n is lt 3 }}{{ n is ge 7 }}{{ n is le 6 }}",
        // Filters
        "{{ '  pad  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ words|length }}|{{ s|count }}|{{ words|first }}|{{ words|last }}|{{ words|join(', ') }}",
        "{{ missing|default('dflt') }}|{{ ''|default('e', true) }}|{{ nothing|default('n') }}|{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}|{{ words|list }}|{{ 'ab'|list }}",
        "{{ messages|map(attribute='role')|join(',') }}|{{ words|map('upper')|list }}|{{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
        "{{ messages|rejectattr('content')|map(attribute='role')|list }}|{{ messages|selectattr('tool_calls', 'defined')|list|length }}|{{ [0, 1, 2]|select|list }}|{{ [0, 1]|reject|list }}",
        "{{ s|replace('o', '0') }}|{{ s|replace('l', 'L', 2) }}|{{ s|lower }}|{{ s|upper }}|{{ 'hello wORLD-x'|title }}|{{ 'hello World'|capitalize }}",
        "{{ n|string }}|{{ '42'|int + 1 }}|{{ 'x'|int }}|{{ '3.5'|float }}|{{ f|int }}|{{ 3|float }}|{{ -3|abs }}|{{ 2.567|round(2) }}|{{ 2.5|round }}",
        "{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(width='> ', blank=true) }}",
        "{% for k, v in d|dictsort %}{{ k }}{{ v }}{% endfor %}|{% for k, v in d|dictsort(true) %}{{ k }}{% endfor %}|{% for k, v in d|dictsort(by='value', reverse=true) %}{{ k }}{% endfor %}|{{ words|unique|list }}|{{ words|unique(case_sensitive=true)|list }}",
        "{{ words|reverse|list }}|{{ s|reverse }}|{{ words|sort }}|{{ words|sort(reverse=true, case_sensitive=true) }}|{{ [3, 1, 2]|max }}|{{ [3, 1, 2]|min }}|{{ [1, 2]|sum }}",
        "{{ s|safe }}|{{ '<a>'|e }}|{{ [1, 2, 3, 4, 5]|batch(2)|list }}|{{ words|join }}|{{ 'x'|center(7) }}|{{ s|wordcount }}|{{ 'abcdef'|truncate(5, leeway=0) }}",
        "{{ '%s-%d-%.2f'|format('a', 3, 1.5) }}|{{ '%05.1f|%-4s|%x' % (3.14159, 'ab', 255) }}|{{ '{} and {}'.format('x', 'y') }}|{{ '{0}-{1}'.format('z', 2) }}",
        // Tuples print, compare and slice as Python's
        "{{ (1, 'a') }}|{{ (1,) }}|{{ () }}|{{ d.items()|list }}|{{ d|dictsort }}|{{ d|items|list }}|{% set t = 1, 2 %}{{ t }}|{{ t|tojson }}",
        "{{ [1, 2] == (1, 2) }}|{{ (1, 2) == (1, 2) }}|{{ (1, 2, 3)[1:] }}|{{ (1, 2) + (3,) }}|{{ (1, 2) * 2 }}|{{ (1, 2) is sequence }}|{{ (1, 2)[0] }}|{{ 2 in (1, 2) }}|{{ (1, 2)|length }}|{{ (2, 1)|sort }}|{{ (1, 2)|list }}",
        "{{ (1, 2).count(2) }}|{{ ('a', 'b').index('b') }}|{{ (1, 2) < (1, 3) }}",
        "{{ (1, 2) + [3] }}",
        // tojson as transformers overrides it
        "{{ tools|tojson }}|{{ d|tojson(indent=2) }}|{{ 'café \"q\" \\u2028'|tojson }}|{{ [1, 2.0, none, true]|tojson }}",
        "{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ messages[2].tool_calls[0].function.arguments|tojson }}",
        "{{ tools[0].function.parameters|tojson(indent=4) }}",
        // String methods
        "{{ '  x  '.strip() }}|{{ 'xxyxx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'ab--'.rstrip('-') }}|{{ '\t\nmsg\n'.strip() }}|{{ '..a..'.lstrip('.') }}",
        "{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a\nb\r\nc'.splitlines() }}|{{ 'k=v=w'.rsplit('=', 1) }}",
        "{{ s.startswith('He') }}|{{ s.endswith(('x', 'ld')) }}|{{ s.replace('l', '_') }}|{{ s.upper() }}|{{ s.lower() }}|{{ s.title() }}|{{ s.find('o') }}|{{ s.count('l') }}",
        "{{ d.get('a') }}|{{ d.get('zz') }}|{{ d.get('zz', 5) }}|{{ d.keys()|list }}|{{ d.values()|list }}|{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}|{{ d['b'] }}|{{ d.b }}",
        "{{ '-'.join(words) }}|{{ s.capitalize() }}|{{ 'ab'.center(6, '*') }}|{{ '12'.zfill(5) }}|{{ 'Ab1'.isalnum() }}|{{ '42'.isdigit() }}|{{ ' '.isspace() }}",
        // Undefined semantics
        "[{{ missing }}]|[{{ d.nope }}]|[{{ missing|length }}]|{% for x in missing %}x{% endfor %}|{{ missing is defined }}|{{ missing == none }}",
        "{{ missing.attr }}",
        "{{ missing + 1 }}",
        "{{ d.nope.deeper }}",
        "{{ missing() }}",
        "{% if missing %}t{% else %}f{% endif %}|{{ missing|default('') }}|{{ (missing or 'alt') }}|{{ missing|string }}",
        // Errors templates raise on purpose, and runtime errors
        "{{ raise_exception('bad role') }}",
        "{{ 1 / 0 }}",
        "{{ 'a' + 1 }}",
        "{{ words.append(1) }}",
        "{{ n|nosuchfilter }}",
        "{% if %}",
        "{% for x in %}{% endfor %}",
        "{{ strftime_now('%Y-%m-%d %H:%M %A %B %b %d %-d %j') }}",
        // A chat template in the usual style
        #"""
        {%- if tools %}{{ '<tools>' }}{% for t in tools %}{{ t.function|tojson }}{% endfor %}{{ '</tools>\n' }}{% endif %}
        {%- for message in messages %}
            {%- if message.role == 'assistant' and message.tool_calls is defined %}
                {{- '<|assistant|>' }}{% for call in message.tool_calls %}{{ '{"name": "' + call.function.name + '", "arguments": ' + call.function.arguments|tojson + '}' }}{% endfor %}
            {%- elif message.role == 'tool' %}
                {{- '<|tool|>' + message.content | trim }}
            {%- else %}
                {{- '<|' + message.role + '|>\n' + message.content | trim + '\n' }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt is defined and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}
        """#,
    ]

    @Test("every snippet renders as jinja2 renders it")
    func snippetsMatchJinja2() throws {
        let expected = try Jinja2Reference.render(Self.templates, variables: Self.variables)
        #expect(expected.count == Self.templates.count)
        guard case .dict(let variables) = try TemplateJSON.parse(Self.variables) else { throw TemplateError.runtime("variables") }
        var context: [String: Value] = [:]
        for (key, value) in variables.pairs { context[key] = value }
        let pinned = Date(timeIntervalSince1970: 1_785_067_200)
        for (source, reference) in zip(Self.templates, expected) {
            var mine: Result<String, any Error>
            do {
                mine = .success(try Template(source).render(context, now: { pinned }, timeZone: TimeZone(identifier: "UTC")!))
            } catch {
                mine = .failure(error)
            }
            switch (mine, reference["text"]) {
            case (.success(let text), let want?): #expect(text == want, "\(source)")
            case (.success(let text), nil): Issue.record("\(source): jinja2 raised \(reference["error"] ?? ""), the engine rendered \(text.debugDescription)")
            case (.failure(let error), let want?): Issue.record("\(source): the engine raised \(error), jinja2 rendered \(want.debugDescription)")
            case (.failure(let error), nil): #expect(error is TemplateError, "\(source)")
            }
        }
    }
}
