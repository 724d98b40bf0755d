"""Long-running work (bulk import, backup, restore, compaction, export) as workflows of steps
that both hosts run from one definition: see ``spruce.jobs.workflow``."""
