"""Visit domain rules: matching log events to planned visits, outcomes, exceptions."""
