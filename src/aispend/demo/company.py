"""Who the demo company is: its AI workflows, owners, teams and how each one calls models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str
    provider: str
    model: str
    input_tokens: int  # mean; cache tokens are part of it
    output_tokens: int
    cache_read_share: float = 0.0  # share of input read from the prompt cache (a ratio, not money)


@dataclass(frozen=True)
class DemoWorkflow:
    key: str
    display_name: str
    owner: str
    team: str
    outcome_unit: str
    runs_per_weekday: int
    weekend_factor: float
    steps: tuple[Step, ...]
    repeats: tuple[int, int] = (1, 1)  # how many times the step list runs in one run (agent loops)
    outcome_rate: float = 0.8
    customers: tuple[str, ...] = ()
    feature: str = ""


COMPANY = "Acme Analytics"
RUNAWAY_WORKFLOW = "support-triage"
RUNAWAY_STARTS_DAYS_AGO = 12
RUNAWAY_RUNS_FACTOR = 2.5
RUNAWAY_MODEL = ("anthropic", "claude-opus-4-1")
UNPRICED_MODEL = "acme-ft-classifier-v3"

CUSTOMERS = ("globex", "initech", "umbrella", "hooli", "stark-industries", "wayne-enterprises")

WORKFLOWS: tuple[DemoWorkflow, ...] = (
    DemoWorkflow(
        "support-triage",
        "Support triage agent",
        "@maria.garcia",
        "support",
        "resolved ticket",
        60,
        0.6,
        (
            Step("classify", "openai", "gpt-4o-mini", 3_000, 80),
            Step("retrieve", "openai", "gpt-4o-mini", 9_000, 300),
            Step("draft", "anthropic", "claude-sonnet-4-5", 22_000, 900, cache_read_share=0.4),
            Step("check", "openai", "gpt-4o-mini", 6_000, 120),
        ),
        repeats=(1, 2),
        outcome_rate=0.72,
        customers=CUSTOMERS,
        feature="helpdesk",
    ),
    DemoWorkflow(
        "contract-review",
        "Contract review",
        "@li.wei",
        "legal",
        "contract reviewed",
        20,
        0.05,
        (
            Step("extract", "anthropic", "claude-sonnet-4-5", 60_000, 2_500, cache_read_share=0.2),
            Step("risk-check", "anthropic", "claude-sonnet-4-5", 30_000, 1_500),
        ),
        outcome_rate=0.95,
        feature="legal-desk",
    ),
    DemoWorkflow(
        "sales-email",
        "Sales email drafting",
        "@tom.becker",
        "sales",
        "email sent",
        120,
        0.1,
        (Step("draft", "openai", "gpt-4o", 12_000, 1_200),),
        outcome_rate=0.6,
        feature="crm-assist",
    ),
    DemoWorkflow(
        "code-review-bot",
        "Code review bot",
        "@ana.silva",
        "engineering",
        "PR reviewed",
        70,
        0.15,
        (
            Step("summarize-diff", "anthropic", "claude-haiku-4-5", 20_000, 800, cache_read_share=0.3),
            Step("review", "anthropic", "claude-sonnet-4-5", 40_000, 1_500, cache_read_share=0.6),
        ),
        outcome_rate=0.9,
        feature="dev-tools",
    ),
    DemoWorkflow(
        "rag-search",
        "In-app search answers",
        "@priya.nair",
        "product",
        "answered query",
        130,
        0.7,
        (
            Step("rewrite", "openai", "gpt-4o-mini", 800, 60),
            Step("answer", "openai", "gpt-4o", 14_000, 800),
        ),
        outcome_rate=0.85,
        customers=CUSTOMERS,
        feature="search",
    ),
    DemoWorkflow(
        "meeting-notes",
        "Meeting notes",
        "@sam.okafor",
        "operations",
        "meeting summarized",
        90,
        0.05,
        (Step("summarize", "openai", "gpt-4o", 25_000, 1_200),),
        outcome_rate=0.97,
        feature="workspace",
    ),
    DemoWorkflow(
        "data-enrichment",
        "Lead data enrichment",
        "@jonas.berg",
        "data",
        "record enriched",
        150,
        1.0,
        (
            Step("classify", "internal", UNPRICED_MODEL, 800, 20),
            Step("enrich", "google", "gemini-2.5-pro", 6_000, 900),
        ),
        outcome_rate=0.9,
        feature="crm-assist",
    ),
    DemoWorkflow(
        "marketing-copy",
        "Marketing copy",
        "@chloe.martin",
        "marketing",
        "asset published",
        62,
        0.05,
        (
            Step("write", "openai", "gpt-4o", 8_000, 2_500),
            Step("polish", "anthropic", "claude-sonnet-4-5", 9_000, 2_000),
        ),
        outcome_rate=0.5,
        feature="content",
    ),
)
