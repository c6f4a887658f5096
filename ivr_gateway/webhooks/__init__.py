"""The ways out to rostering systems: the change feed's JSON and signed outbound webhooks.

The domain appends to the change feed (visits/changes.py, visits/feed.py); this package shows
its entries as JSON (payloads.py), keeps the webhook subscriptions (subscriptions.py), fans the
feed out to them through the outbox (dispatch.py) and delivers signed requests (delivery.py,
signing.py) from the `ivr-gateway webhooks relay` process.
"""
