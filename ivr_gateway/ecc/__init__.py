"""Council forwarding: council records (payloads), the API client, relay wiring, mock council, KPI.

The domain writes what changed into the outbox in its own transaction
(ivr_gateway.visits.changes); events.py subscribes to those rows and renders versioned council
records from them; the relay process delivers the records through the client adapter
(client.py); the mock council (mock_server.py) stands in for the council's API in the demo and
the tests; kpi.py builds the KPI reports.
"""
