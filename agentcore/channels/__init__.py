"""Help-desk channels: where requests come from besides the compose box, the replay
and the HTTP intake, and where their answers go back.

`agentcore.channels.chatwoot` is a Chatwoot Agent Bot (`POST /channels/chatwoot` on
the intake server); importing this package imports only settings, never aiohttp.
"""

from agentcore.channels._chatwoot_settings import ChatwootSettings

__all__ = ["ChatwootSettings"]
