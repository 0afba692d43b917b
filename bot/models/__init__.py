"""The data model: one module per aggregate, all exported here."""

from bot.models.base import Base, utcnow
from bot.models.booking import Booking, Customer, Vehicle
from bot.models.conversation import Conversation, Message
from bot.models.outbox import OutboxItem
from bot.models.records import (
    AuditLog,
    Document,
    LicenceCheck,
    Payment,
    ProcessedEvent,
    Reminder,
)
from bot.models.tenant import Tenant

__all__ = [
    "ProcessedEvent",
    "AuditLog", "Base", "Booking", "Conversation", "Customer", "Document", "LicenceCheck",
    "Message",
    "OutboxItem", "Payment", "Reminder", "Tenant", "Vehicle", "utcnow",
]
