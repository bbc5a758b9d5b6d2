"""lbguard's pure core, vendored into the lb-safety pack by tools/vendor_core.py; do not edit."""
