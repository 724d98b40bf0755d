"""Spruce: a Pinecone-compatible vector database."""
