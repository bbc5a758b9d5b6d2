"""Policies of the lb-safety pack, grouped by domain."""
