"""The shared kernel: the vocabulary and rules every layer speaks (errors, principals, tokens,
money, timestamps, countries, platforms, niches, pagination, events, config).

It sits below everything: `services/`, `dependencies/`, `gateway_http/` and `ws/` import it; it
imports none of them.
"""
