"""The Spruce CDK app: constructs that only compose (see ``infra/README.md``)."""
