"""The HTTP intake: requests in over `POST /v1/requests`, outcomes out by callback.

`settings` (IntakeSettings) is pydantic only; `server` (IntakeServer, aiohttp),
`service` (Intake: idempotent submit, waiting, views), `outbox` (durable signed
deliveries) import aiohttp on use: import them by name, never from here.
"""
