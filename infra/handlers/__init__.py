"""Deploy-time handlers owned by the stack itself (shipped as ``stack_handlers``)."""
