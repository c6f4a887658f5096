"""Twilio adapter: webhook signatures, TwiML building, outbound senders."""
