"""Pseudonym-free names in a fitted profile: what `synth fit` learns must not depend on the key.

A sanitized trace names some models and tools by keyed pseudonyms (`mcp__srv_<16 hex>__query`,
`tool_<16 hex>`, `m_<16 hex>`; `tracelab.privacy.PSEUDONYM_RE`). The same trace sanitized under
two keys would fit two profiles that differ in those names and, through ties broken by name,
in the order of their entries. So each pseudonym becomes a label numbered by CONTENT: every
profile entry whose name holds it (provider, section, the name with all pseudonyms masked, the
entry's numbers) forms its fingerprint; pseudonyms of a kind are numbered in fingerprint order
(`srv_1`, `srv_2`, …). Two pseudonyms with equal fingerprints have equal entries, so which
gets which number does not change the profile. Model and tool tables are then ordered by share
(descending), then name — the order the fit produced them in, now without the key's influence.
"""

from __future__ import annotations

from typing import Any

import orjson

from tracelab.privacy import PSEUDONYM_RE

#: The profile tables keyed by a name that may hold a pseudonym.
SECTIONS = ("models", "tools")


def _fingerprints(providers: dict[str, dict[str, Any]]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for provider, doc in providers.items():
        for section in SECTIONS:
            for name, entry in doc.get(section, {}).items():
                tokens = PSEUDONYM_RE.findall(name)
                if not tokens:
                    continue
                masked = PSEUDONYM_RE.sub("*", name)
                item = orjson.dumps([provider, section, masked, entry], option=orjson.OPT_SORT_KEYS)
                for token in tokens:
                    found.setdefault(token, []).append(item)
    return {token: sorted(items) for token, items in found.items()}


def labels(providers: dict[str, dict[str, Any]]) -> dict[str, str]:
    """pseudonym → its content-numbered label (`<prefix>_<n>`, n from 1 per kind)."""
    fingerprints = _fingerprints(providers)
    by_kind: dict[str, list[str]] = {}
    for token in fingerprints:
        by_kind.setdefault(token.rsplit("_", 1)[0], []).append(token)
    out: dict[str, str] = {}
    for kind, tokens in by_kind.items():
        tokens.sort(key=lambda t: (fingerprints[t], t))
        for n, token in enumerate(tokens, start=1):
            out[token] = f"{kind}_{n}"
    return out


def canonical_names(providers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The providers' profile parts with pseudonyms relabelled by content, tables re-ordered."""
    mapping = labels(providers)

    def rename(name: str) -> str:
        return PSEUDONYM_RE.sub(lambda m: mapping[m.group(0)], name) if mapping else name

    out = {}
    for provider, doc in providers.items():
        doc = dict(doc)
        for section in SECTIONS:
            if section in doc:
                renamed = [(rename(name), entry) for name, entry in doc[section].items()]
                renamed.sort(key=lambda kv: (-kv[1]["share"], kv[0]))
                doc[section] = dict(renamed)
        out[provider] = doc
    return out
