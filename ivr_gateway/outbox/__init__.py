"""The transactional outbox: work that leaves the building (council records, texts, voice calls).

Written in the same transaction as the change that causes it; delivered later by a relay that
claims due messages with row locks (SKIP LOCKED on PostgreSQL), sends them with no lock held,
and records the result. At-least-once delivery, made effectively-once by the idempotency key.
"""
