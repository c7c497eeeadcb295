"""Looking inside training: per-quantizer traces and aggregation ranges against in-degree."""
