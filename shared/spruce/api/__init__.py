"""The HTTP edge: FastAPI routers that parse, call the engine and render Pinecone-shaped JSON."""
