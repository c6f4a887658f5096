# The two commands a newcomer needs. Everything else is `.venv/bin/ivr-gateway --help`.
.PHONY: demo test

demo:  ## set up, then run the gateway with demo data on SQLite
	./scripts/setup-venv
	.venv/bin/ivr-gateway demo

test:  ## set up, then lint, type-check and test on SQLite and PostgreSQL (what CI runs)
	bash .ci/run
