"""The Chatwoot channel's settings (`Settings.chatwoot`), declared once with defaults.

Secrets are not settings: the API access token and the webhook's signing secret are
named here by their keyring entries and read from the keyring when the channel starts.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ChatwootSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True,
                              hide_input_in_errors=True)

    base_url: str = Field(description="the Chatwoot installation, e.g. https://app.chatwoot.com")
    account_id: int = Field(ge=1, description="the Chatwoot account whose inboxes the bot serves")
    api_token_name: str = Field(
        "chatwoot", min_length=1,
        description="keyring entry holding the api_access_token the answers are posted with "
                    "(an agent bot's or an agent's access token)")
    webhook_secret_name: str | None = Field(
        None, description="keyring entry holding the agent bot's webhook secret; None: "
                          "webhooks are not signature-checked (only on a trusted network)")
    signature_tolerance_s: float = Field(
        300.0, gt=0, description="a signed webhook whose X-Chatwoot-Timestamp is further "
                                 "than this from our clock is refused (a replay)")
    # Both off by default: who a contact is decides whose orders the agent reads, and a
    # visitor can claim either from the web widget ($chatwoot.setCustomAttributes,
    # $chatwoot.setUser) unless the team's own systems set it.
    customer_attribute: str | None = Field(
        None, description="the contact's custom attribute that holds the domain's customer "
                          "id, set by your systems through Chatwoot's API (never the widget: "
                          "a visitor can set its attributes); None: not read")
    identifier_is_customer_id: bool = Field(
        False, description="a contact's numeric identifier (what the site passes to "
                           "$chatwoot.setUser) is the domain's customer id; only with "
                           "Chatwoot's HMAC identity validation on for the inbox, or any "
                           "visitor can claim any identifier")
    handover_message: str | None = Field(
        "Thanks, I'm handing you over to a person on our team, who will reply here.",
        description="posted to the customer when a request escalates, before the "
                    "conversation is opened for the humans; None: nothing is posted")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="larger webhooks are refused")
    sweep_every_s: float = Field(
        5.0, gt=0, description="how often the channel on the intake server enqueues the "
                               "posts it owes and nothing queued: an operator's reply "
                               "another process wrote to the same database, an outcome a "
                               "crash caught before its post was queued")

    @field_validator("base_url")
    @classmethod
    def _an_http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("Chatwoot's URL must start with http:// or https:// and name a "
                             "host, e.g. https://app.chatwoot.com")
        if "@" in parts.netloc:
            raise ValueError("put the access token in the keyring, not in Chatwoot's URL")
        return value

    @model_validator(mode="after")
    def _signed_when_it_names_customers(self) -> ChatwootSettings:
        # Unsigned, anyone who reaches the route can forge a message claiming customer
        # N and have N's orders answered into a conversation of their choosing.
        if self.webhook_secret_name is None and (self.customer_attribute is not None
                                                 or self.identifier_is_customer_id):
            raise ValueError("a Chatwoot contact is mapped to a customer (customer_attribute "
                             "or identifier_is_customer_id), so its webhooks must be "
                             "signed: set webhook_secret_name to the keyring entry of the "
                             "agent bot's webhook secret")
        return self
