"""Rota in: upserts of adults, care workers and planned visits, shared by the API and CSV import."""
