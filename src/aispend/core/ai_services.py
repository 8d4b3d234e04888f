"""Which billing rows are AI: one matcher for every billing path (FOCUS files, cloud bills).

A row is AI when its FOCUS ServiceCategory is "AI and Machine Learning", when its service name is one
of the configured names (AISPEND_AI_SERVICE_NAMES, exact, case-insensitive), or when the name matches
one of the patterns (AISPEND_AI_SERVICE_PATTERNS, regular expressions searched case-insensitively).
The patterns catch what exact names miss: marketplace listings ("Claude Sonnet 4.5 (Amazon Bedrock
Edition)"), product codes ("AmazonBedrock", "AmazonSageMaker") and renamed products.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

AI_SERVICE_CATEGORY = "AI and Machine Learning"  # FOCUS ServiceCategory

DEFAULT_AI_SERVICE_PATTERNS = (
    r"bedrock",  # Amazon Bedrock, AmazonBedrock, "… (Amazon Bedrock Edition)" marketplace models
    r"sagemaker",  # Amazon SageMaker, AmazonSageMaker
    r"openai",  # Azure OpenAI (Service), OpenAI
    r"\banthropic\b|\bclaude\b",
    r"\bgemini\b|\bvertex ?ai\b|generative (ai|language)",
    r"cognitive ?services|\bazure ai\b|\bai foundry\b|azure machine learning",
    r"\bmistral\b|\bcohere\b|\bllama\b",
)


def compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """The patterns compiled; a bad one raises ValueError naming it."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"AI service pattern {pattern!r} is not a regular expression: {exc}") from None
    return tuple(compiled)


@dataclass(frozen=True)
class AiServiceMatcher:
    names: frozenset[str]  # lower case
    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def create(cls, names: Iterable[str], patterns: Iterable[str] = DEFAULT_AI_SERVICE_PATTERNS) -> AiServiceMatcher:
        return cls(
            names=frozenset(n.strip().lower() for n in names if n.strip()),
            patterns=compile_patterns(p for p in patterns if p.strip()),
        )

    def is_ai(self, service_category: str, service_name: str) -> bool:
        if service_category.strip().lower() == AI_SERVICE_CATEGORY.lower():
            return True
        name = service_name.strip()
        return name.lower() in self.names or any(p.search(name) for p in self.patterns)
