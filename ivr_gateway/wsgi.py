"""The WSGI entry for gunicorn (Procfile `web`): settings from the environment."""

from ivr_gateway.app import create_app

app = create_app()
