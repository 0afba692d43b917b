"""Natural-language understanding: intent, entities and language of a renter's message."""

from nlu.parser import NluResult, RuleBasedParser

__all__ = ["NluResult", "RuleBasedParser"]
