"""Prometheus metrics: messages in and out, handling latency, outbox backlog, dead letters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
MESSAGES_IN = Counter("crms_messages_in_total", "Inbound messages recorded", ["channel"],
                      registry=REGISTRY)
DUPLICATES = Counter("crms_inbound_duplicates_total", "Inbound messages seen again (retries)",
                     ["channel"], registry=REGISTRY)
MESSAGES_OUT = Counter("crms_messages_out_total", "Outbound messages sent", ["channel"],
                       registry=REGISTRY)
SEND_FAILURES = Counter("crms_send_failures_total", "Failed send attempts", ["channel"],
                        registry=REGISTRY)
HANDLING = Histogram("crms_handling_seconds", "Time to handle one inbound message",
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                     registry=REGISTRY)
OUTBOX_BACKLOG = Gauge("crms_outbox_backlog", "Outbox rows waiting to be sent", registry=REGISTRY)
DEAD_LETTERS = Gauge("crms_outbox_dead_letters", "Outbox rows given up on", registry=REGISTRY)
SMS_SEGMENTS = Counter("crms_sms_segments_total", "SMS segments sent, by encoding", ["encoding"],
                       registry=REGISTRY)
WEBHOOKS_REJECTED = Counter("crms_webhooks_rejected_total", "Webhooks refused (signature, input)",
                            ["provider", "reason"], registry=REGISTRY)
