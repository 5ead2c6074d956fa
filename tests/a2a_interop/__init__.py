"""Interoperability with the official A2A SDK, both ways: the connector against an SDK server on
both bindings, and the SDK's own client against the reference agent in A2A mode."""
