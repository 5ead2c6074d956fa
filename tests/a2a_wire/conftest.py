from a2a_peer.fixtures import a2a_peer, a2a_peer_ca, a2a_peer_factory

__all__ = ["a2a_peer", "a2a_peer_ca", "a2a_peer_factory"]
