"""Library code for the LLM Scores API: one module per concern, imported by app.py."""
