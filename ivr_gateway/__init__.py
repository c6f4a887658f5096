"""ivr-gateway: carers with no smartphone log home-care visits by phone call or text.

Deliberately empty: importing a part of the package (the visit rules, say) must not load Flask or
the web app. The app factory is ivr_gateway.app.create_app; gunicorn's entry is ivr_gateway.wsgi.
"""
