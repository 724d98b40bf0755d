"""Packaging of the Lambda functions (``build.py``); a package so the CDK app can import it."""
