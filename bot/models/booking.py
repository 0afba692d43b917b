"""Customers, vehicles and bookings of a tenant."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, EncryptedText, utcnow


class Customer(Base):
    """A renter; personal fields are encrypted, the phone is found by its keyed hash."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str | None] = mapped_column(EncryptedText)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    email: Mapped[str | None] = mapped_column(EncryptedText)
    birth_date: Mapped[str | None] = mapped_column(EncryptedText)
    address: Mapped[str | None] = mapped_column(EncryptedText)
    language: Mapped[str] = mapped_column(String(5), default="de")
    opted_out: Mapped[bool] = mapped_column(default=False)
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Vehicle(Base):
    """A car of the fleet."""

    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("tenant_id", "plate"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    plate: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(8), default="B")
    model: Mapped[str | None] = mapped_column(String(100))


class Booking(Base):
    """A rental booking, synced from the rental system."""

    __tablename__ = "bookings"
    __table_args__ = (UniqueConstraint("tenant_id", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    ref: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    pickup_at: Mapped[datetime]
    return_at: Mapped[datetime]
    pickup_location: Mapped[str] = mapped_column(String(300), default="")
    return_location: Mapped[str] = mapped_column(String(300), default="")
    amount_due_chf: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))
    deposit_chf: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship()
    vehicle: Mapped[Vehicle | None] = relationship()
