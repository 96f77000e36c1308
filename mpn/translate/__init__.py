"""The translate stage's library: providers by name, a persistent cache, a batching and
retrying runner, and the task-level logic that builds XFEVER-style translated rows.
Imports mpn.core and mpn.data."""
from mpn.translate.cache import TranslationCache
from mpn.translate.output import write_translations
from mpn.translate.pacing import RateLimiter, RetryPolicy
from mpn.translate.registry import PROVIDER_NAMES, make_provider
from mpn.translate.runner import RunResult, TranslationRunner
from mpn.translate.settings import TranslateSettings
from mpn.translate.task import TaskTranslation, TaskTranslator

__all__ = ["PROVIDER_NAMES", "RateLimiter", "RetryPolicy", "RunResult", "TaskTranslation",
           "TaskTranslator", "TranslateSettings", "TranslationCache", "TranslationRunner",
           "make_provider", "write_translations"]
