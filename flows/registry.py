"""The flows, registered in one visible place, and which intent starts which flow."""

from __future__ import annotations

from flows.base import Flow
from flows.booking_status import BookingStatusFlow
from flows.change_language import ChangeLanguageFlow
from flows.change_request import CancelBookingFlow, ExtendRentalFlow
from flows.escalation import FallbackFlow, HumanAgentFlow, ReportProblemFlow
from flows.faq import FaqFlow
from flows.help import HelpFlow
from flows.identify import IdentifyFlow
from flows.licence import LicenceFlow
from flows.opt_out import OptOutFlow
from flows.payment import PaymentFlow
from flows.privacy import DeleteDataFlow
from flows.reminder_reply import RunningLateFlow
from flows.smalltalk import SmalltalkFlow
from flows.trip_info import TripInfoFlow

IDENTIFY = IdentifyFlow()
FLOWS: list[Flow] = [
    IDENTIFY, SmalltalkFlow(), HelpFlow(), BookingStatusFlow(), TripInfoFlow(),
    ExtendRentalFlow(), CancelBookingFlow(), ChangeLanguageFlow(), HumanAgentFlow(),
    ReportProblemFlow(), FallbackFlow(), OptOutFlow(), DeleteDataFlow(), FaqFlow(), PaymentFlow(),
    LicenceFlow(), RunningLateFlow(),
]
BY_NAME: dict[str, Flow] = {flow.name: flow for flow in FLOWS}
BY_INTENT: dict[str, Flow] = {intent: flow for flow in FLOWS for intent in flow.intents}
# These interrupt any flow (DESIGN.md, the path of a message).
GLOBAL_INTENTS = frozenset({"human_agent", "report_problem", "opt_out", "opt_in",
                            "change_language", "delete_data"})


def flow_for_intent(intent: str) -> Flow:
    """The flow an intent starts (not understood goes to the fallback)."""
    return BY_INTENT.get(intent) or BY_INTENT["nlu_fallback"]
