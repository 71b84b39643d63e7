"""The Chatwoot channel as the intake server's extension: its posts go through the
intake's durable outbox. (A post owed across a restart is not tested yet.)"""

from __future__ import annotations

from agentcore import Engine
from agentcore.channels import ChatwootSettings
from agentcore.channels.chatwoot import ROUTE, extension
from agentcore.credentials import KeyringCredentials
from agentcore.intake.server import IntakeServer
from agentcore.intake.settings import IntakeSettings
from tests.agentcore.channels.chatwoot_standin import ACCOUNT, TOKEN, ChatwootStandin
from tests.agentcore.channels.test_chatwoot import SHIPPING
from tests.agentcore.scripted_llm import ScriptedLLM


class Served:
    def __init__(self, settings, standin: ChatwootStandin) -> None:
        credentials = KeyringCredentials()
        credentials.set("chatwoot", TOKEN)
        settings.chatwoot = ChatwootSettings(base_url=standin.url, account_id=ACCOUNT)
        self.engine = Engine(settings, openai_client=ScriptedLLM([]).client())
        self.server = IntakeServer(self.engine,
                                   IntakeSettings(port=0, retry_base_s=0.05, retry_cap_s=0.2),
                                   credentials, extensions=[extension(credentials)])
        self.standin = standin

    async def start(self) -> None:
        url = await self.server.start()
        self.standin.bot_url = f"{url}{ROUTE}"

    async def close(self) -> None:
        await self.server.close()
        await self.engine.close()


async def test_answered_through_the_intake_servers_outbox(settings):
    standin = ChatwootStandin()
    await standin.start()
    served = Served(settings, standin)
    await served.start()
    try:
        standin.conversation(41)
        reply = await standin.send(standin.payload(41, SHIPPING, message_id=1001))
        assert reply.status_code == 200
        await standin.wait_for(lambda: standin.messages)
        assert "Standard shipping" in standin.messages[0].content
        assert served.engine.store.outbox.pending() == 0
    finally:
        await served.close()
        await standin.stop()
