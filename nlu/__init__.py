"""Natural-language understanding: intent, entities and language of a renter's message."""

from nlu.parser import BuiltinParser, NluResult, RuleBasedParser

__all__ = ["BuiltinParser", "NluResult", "RuleBasedParser"]
