"""The network side: servers a module's sockets meet, and the test PKI they present.

Stdlib-``ssl`` TLS servers, TCP and UDP echo servers that record what was negotiated
(:mod:`.tls_servers`), hostile servers that misbehave at every handshake stage
(:mod:`.hostile_servers`), and access to the shipped test PKI (:mod:`.pki`). The field-failure lab
(:mod:`emulator.lab`) builds its endpoints from them, and so do the tests.
"""
