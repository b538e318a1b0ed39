"""Open websockets tracked by token (app.services.token_sessions, app.graphql.token_sockets):
a change of the token in the event log closes its sessions and no other's; a session of a
revoked token is refused; a revocation recorded while a session opens is not missed; a
socket closed from outside sends 4403 and ends the app's receive loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from starlette.types import Message

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container
from app.graphql.token_sockets import TokenSocket
from app.services.log_feed import LogFeed
from app.services.token_sessions import TokenSessions
from app.services.tokens import Principal, TokenService
from domain.token import ApiToken, Role

META = EventMeta(actor="test")


@dataclass
class Tokens:
    """Viewer tokens, created and revoked by the container's TokenService."""

    service: TokenService

    async def create(self, name: str) -> tuple[ApiToken, Principal]:
        _, token = await self.service.create(name, Role.VIEWER, meta=META)
        return token, Principal(str(token.id), name, Role.VIEWER)

    async def revoke(self, token: ApiToken) -> None:
        await self.service.revoke(token.id, meta=META)


@dataclass
class Closes:
    reasons: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.closed.set()


@pytest.fixture
def tokens(container: Container) -> Tokens:
    return Tokens(container.tokens)


@pytest.fixture
def sessions(container: Container) -> TokenSessions:
    return container.sessions  # as the app tracks them; the container closes it


async def test_a_revocation_closes_the_tokens_sessions_and_no_others(
    tokens: Tokens, sessions: TokenSessions
) -> None:
    alice, alice_principal = await tokens.create("alice")
    _, bob_principal = await tokens.create("bob")
    alice_closes, alice_closes_too, bob_closes = Closes(), Closes(), Closes()
    assert await sessions.open(alice_principal, alice_closes) is not None
    assert await sessions.open(alice_principal, alice_closes_too) is not None
    bob = await sessions.open(bob_principal, bob_closes)
    assert bob is not None and len(sessions) == 3

    await tokens.revoke(alice)
    await asyncio.wait_for(alice_closes.closed.wait(), 5)
    await asyncio.wait_for(alice_closes_too.closed.wait(), 5)
    assert alice_closes.reasons == alice_closes_too.reasons == ["API token revoked"]
    assert not bob_closes.reasons and len(sessions) == 1

    # another event of the log closes nothing
    await tokens.create("carol")
    sessions.release(bob)
    assert not bob_closes.reasons and len(sessions) == 0


async def test_a_session_of_a_revoked_token_is_refused(
    tokens: Tokens, sessions: TokenSessions
) -> None:
    token, principal = await tokens.create("alice")
    await tokens.revoke(token)
    closes = Closes()
    assert await sessions.open(principal, closes) is None
    assert len(sessions) == 0 and not closes.reasons


async def test_a_session_of_a_token_with_another_role_is_refused(
    tokens: Tokens, sessions: TokenSessions
) -> None:
    _, principal = await tokens.create("alice")
    as_admin = Principal(principal.token_id, principal.name, Role.ADMIN)
    assert await sessions.open(as_admin, Closes()) is None


async def test_a_revocation_recorded_while_a_session_opens_is_not_missed(
    tokens: Tokens, container: Container
) -> None:
    """The check of the token reads the store just before the revocation is recorded:
    the follower of the log must close the session."""
    token, principal = await tokens.create("alice")

    async def granted_then_revoked(checked: Principal) -> bool:
        granted = await container.tokens.still_grants(checked)
        await tokens.revoke(token)
        return granted

    feed = LogFeed(container.store, poll_seconds=0.05)
    sessions = TokenSessions(feed, container.store, granted_then_revoked)
    closes = Closes()
    try:
        assert await sessions.open(principal, closes) is not None
        await asyncio.wait_for(closes.closed.wait(), 5)
        assert closes.reasons == ["API token revoked"]
    finally:
        await sessions.close()
        await feed.close()


async def test_a_socket_closed_from_outside_closes_with_4403_and_ends_the_app() -> None:
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    socket = TokenSocket(incoming.get, send)
    incoming.put_nowait({"type": "websocket.connect"})
    assert await socket.receive() == {"type": "websocket.connect"}
    await socket.send({"type": "websocket.accept"})
    incoming.put_nowait({"type": "websocket.receive", "text": "hello"})
    assert await socket.receive() == {"type": "websocket.receive", "text": "hello"}

    waiting = asyncio.create_task(socket.receive())  # the app waits for the client
    await asyncio.sleep(0)
    socket.close("API token revoked")
    assert await asyncio.wait_for(waiting, 5) == {"type": "websocket.disconnect", "code": 4403}
    await socket.send({"type": "websocket.send", "text": "next event"})  # dropped
    socket.close("again")  # closes once
    await socket.finish()
    assert sent == [
        {"type": "websocket.accept"},
        {"type": "websocket.close", "code": 4403, "reason": "API token revoked"},
    ]
    assert await socket.receive() == {"type": "websocket.disconnect", "code": 4403}
