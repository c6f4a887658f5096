"""Council forwarding: council records (payloads), the API client, relay wiring, mock council, KPI.

The domain writes council records into the outbox in its own transaction (events.py); the relay
process delivers them through the client adapter (client.py); the mock council (mock_server.py)
stands in for the council's API in the demo and the tests; kpi.py builds the KPI reports.
"""
