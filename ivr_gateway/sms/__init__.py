"""SMS: text webhooks, command parsing, visit codes (tokens and code sheets)."""
