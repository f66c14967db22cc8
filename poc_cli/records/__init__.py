"""Stored records as their readers see them: whatever schema wrote a record, it is read in today's shape
(`upgrade`), so no reader keeps a fallback of its own for what an older poc did not store."""
