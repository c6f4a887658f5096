"""ivr-gateway: carers with no smartphone log home-care visits by phone call or text."""

from ivr_gateway.app import create_app

__all__ = ["create_app"]
