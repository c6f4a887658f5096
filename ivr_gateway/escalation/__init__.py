"""Escalation: the rules that raise alerts about late, missed and unfinished visits, the ladder
that climbs them (coordinator on duty, on-call, registered manager), and their scheduled tick."""
