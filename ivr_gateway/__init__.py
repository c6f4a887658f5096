"""ivr-gateway: carers with no smartphone log home-care visits by phone call or text.

Empty on purpose: importing a sub-package (the CLI, a domain module) must not build the Flask app.
The app factory is ivr_gateway.app.create_app.
"""
