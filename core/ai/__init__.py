"""The assistant in the room: provider access, context building, and the relay that streams
answers into the room. Asyncio only, no Qt."""
