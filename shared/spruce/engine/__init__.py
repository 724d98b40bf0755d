"""The engine: write path, read path, filters, slabs, manifests. No AWS imports here."""
