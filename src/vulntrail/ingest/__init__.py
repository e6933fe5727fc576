"""The import use case: one transaction from a parsed report to the stored trail."""
