"""An agent as a durable store writes it: its fields as text and its key as ciphertext.

The SQLite and PostgreSQL stores share this one conversion, both ways, so an agent round-trips
through either with every field (``protocol``, ``endpoint``, ``binding``, ``key_header``
included), and its key is bound to the same :class:`~.keys.KeyBinding` in both.
"""

from __future__ import annotations

from typing import Final, get_args

import attrs

from jamey_agent_orchestration.model import A2ABinding, Agent, AgentProtocol
from jamey_agent_orchestration.store.base import RegistryError
from jamey_agent_orchestration.store.copy import StoredAgent
from jamey_agent_orchestration.store.keys import KeyBinding, KeyCipher, KeyMismatch, tampered_error

__all__ = ["AgentRecord"]

_PROTOCOLS: Final = frozenset(get_args(AgentProtocol))
_BINDINGS: Final = frozenset(get_args(A2ABinding))


@attrs.frozen(kw_only=True)
class AgentRecord:
    """One agent's stored row (without its place in the order or its version)."""

    id: str
    name: str
    url: str
    capabilities: tuple[str, ...]
    protocol: str
    endpoint: str | None
    binding: str | None
    key_header: str | None
    api_key: bytes = attrs.field(repr=False)  # ciphertext

    @classmethod
    def seal(cls, agent: Agent, cipher: KeyCipher) -> AgentRecord:
        """The row of ``agent``, its key encrypted under ``cipher`` and bound to its record."""
        binding = KeyBinding.of(agent)
        return cls(
            id=agent.id,
            name=agent.name,
            url=binding.url,
            capabilities=agent.capabilities,
            protocol=binding.protocol,
            endpoint=binding.endpoint,
            binding=binding.binding,
            key_header=binding.key_header,
            api_key=cipher.encrypt(binding, agent.api_key),
        )

    def key_binding(self) -> KeyBinding:
        return KeyBinding(
            agent_id=self.id,
            url=self.url,
            protocol=self.protocol,
            endpoint=self.endpoint,
            binding=self.binding,
            key_header=self.key_header,
        )

    def resealed(self, old: KeyCipher, new: KeyCipher) -> AgentRecord:
        """The same row, its key under ``new`` (a rotation); raises if ``old`` cannot open it."""
        binding = self.key_binding()
        return attrs.evolve(self, api_key=new.encrypt(binding, old.decrypt(binding, self.api_key)))

    def open(self, cipher: KeyCipher, *, seq: int, version: int) -> StoredAgent:
        """The agent of this row, or the problem that stops it being used (never raised here).

        Call it once the master key is known to be right (the key check passed): a key that
        does not open is then a record changed around it, not a wrong master key.
        """
        try:
            agent = self._agent(cipher)
        except KeyMismatch:
            problem = tampered_error(self.id)
        except RegistryError as exc:
            problem = exc
        else:
            return StoredAgent(id=self.id, seq=seq, version=version, agent=agent)
        return StoredAgent(id=self.id, seq=seq, version=version, problem=problem)

    def _agent(self, cipher: KeyCipher) -> Agent:
        if self.protocol not in _PROTOCOLS or (
            self.binding is not None and self.binding not in _BINDINGS
        ):
            raise RegistryError(
                f"The stored record of agent {self.id} names an unknown protocol or binding; "
                f"register it again with replace=true"
            )
        api_key = cipher.decrypt(self.key_binding(), self.api_key)
        # The URLs passed the address policy when the agent was registered, and the key binding
        # proves they are the ones it was registered with: parsed here, not judged again.
        return Agent(
            id=self.id,
            name=self.name,
            url=self.url,
            api_key=api_key,
            capabilities=self.capabilities,
            protocol=self.protocol,  # type: ignore[arg-type]  # checked above
            endpoint=self.endpoint,
            binding=self.binding,  # type: ignore[arg-type]  # checked above
            key_header=self.key_header,
        )
