"""The environment for service processes the tests start: none of the developer's settings."""

import os

KEEP = {"CRMS_NLU_CACHE_DIR"}  # the trained model is shared by the whole run


def service_env() -> dict[str, str]:
    """os.environ without CRMS_/TWILIO_/STRIPE_ settings (the test sets its own)."""
    return {k: v for k, v in os.environ.items()
            if k in KEEP or not k.startswith(("CRMS_", "TWILIO_", "STRIPE_"))}
