"""Operations: what the people running the gateway read (/metrics, the request log), the
retention command, and the app surfaces (webhooks-only or everything) the Procfile serves."""
