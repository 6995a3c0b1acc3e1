"""Client contexts are shared between connections on the same settings (context_factory.ContextCache).

A shared context must carry nothing of one connection: the module clock,
the alert / X509-error log, SNI and the host check live on each ``SSL``.
Every case runs real OpenSSL handshakes over memory BIOs, interleaved where
sharing could leak one connection's state into another.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from OpenSSL import SSL

from emulator.core.codes import GtsslErr
from emulator.core.tls_request import TlsRequest
from emulator.servers.pki import cert_bytes
from emulator.tls import TlsClient, TlsFailure, keylog
from emulator.tls.context_factory import (
    CLIENT_CONTEXTS,
    ContextCache,
    build_context,
    client_context,
    prepare_connection,
)
from tests.tls.clienthello import EXT_SESSION_TICKET, parse_client_hello
from tests.tls.conftest import NOW, ROOT, Server, connect, load_cert, new_server, pump, request, server_context

LEAF = load_cert("server.pem")
#: One day past / before the default server leaf's validity; the CAs span 2010-2050,
#: so only the leaf's own dates decide.
AFTER_LEAF = LEAF.not_valid_after_utc + dt.timedelta(days=1)
BEFORE_LEAF = LEAF.not_valid_before_utc - dt.timedelta(days=1)
EXPIRED = ("server-expired.pem", "server-expired.key")
CLIENT_PEM, CLIENT_KEY = cert_bytes("client.pem"), cert_bytes("client.key")
BROKEN_PEM = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    CLIENT_CONTEXTS.clear()
    yield
    CLIENT_CONTEXTS.clear()


def context_of(client: TlsClient) -> SSL.Context:
    return client._conn.get_context()


def outcome(req: TlsRequest, server_ctx: SSL.Context) -> tuple[int | None, TlsClient]:
    """Run one handshake: (the +GTSSLERR code or None on success, the client)."""
    client = TlsClient(req)
    client.initiate()
    try:
        pump(client, new_server(server_ctx))
    except TlsFailure as failure:
        return failure.gtsslerr, client
    assert client.handshake_done
    return None, client


class TestModuleClockIsPerConnection:
    """The regression tls-engine.md §2 warns about: a store keeps only its first set_time."""

    def test_expired_then_valid_then_expired_on_one_context(self) -> None:
        server = server_context()
        late, now = request(module_time=AFTER_LEAF), request(module_time=NOW)
        code, first = outcome(late, server)
        assert code == GtsslErr.CERTIFICATE_EXPIRED
        assert (0, 10) in first.verify_errors
        code, second = outcome(now, server)
        assert code is None
        assert second.verify_errors == [(2, 0), (1, 0), (0, 0)]
        code, third = outcome(late, server)
        assert code == GtsslErr.CERTIFICATE_EXPIRED
        assert (0, 10) in third.verify_errors
        # One context served all three: the clock cannot have come from it.
        assert context_of(first) is context_of(second) is context_of(third)
        assert len(CLIENT_CONTEXTS) == 1

    def test_valid_then_not_yet_valid_on_one_context(self) -> None:
        server = server_context()
        code, first = outcome(request(module_time=NOW), server)
        assert code is None
        code, second = outcome(request(module_time=BEFORE_LEAF), server)
        assert code == GtsslErr.BAD_CERTIFICATE
        assert (0, 9) in second.verify_errors
        assert context_of(first) is context_of(second)

    def test_a_past_clock_accepts_an_expired_leaf_after_a_current_one_refused_it(self) -> None:
        server = server_context(*EXPIRED)
        past = load_cert(EXPIRED[0]).not_valid_before_utc + dt.timedelta(days=1)
        assert outcome(request(), server)[0] == GtsslErr.CERTIFICATE_EXPIRED
        assert outcome(request(module_time=past), server)[0] is None

    def test_naive_and_aware_clocks_are_the_same_instant(self) -> None:
        # TlsRequest.module_time is UTC; a naive value means UTC, an aware one
        # in another zone is converted, not read as wall-clock fields.
        server = server_context()
        naive_late = AFTER_LEAF.replace(tzinfo=None)
        assert outcome(request(module_time=naive_late), server)[0] == GtsslErr.CERTIFICATE_EXPIRED
        # 10:00 on the last valid day at UTC+12 is 22:00 UTC the day before: still valid.
        plus12 = dt.timezone(dt.timedelta(hours=12))
        edge = (LEAF.not_valid_after_utc - dt.timedelta(hours=2)).astimezone(plus12)
        assert edge.utcoffset() == dt.timedelta(hours=12)
        assert outcome(request(module_time=edge), server)[0] is None


def pump_together(pairs: list[tuple[TlsClient, Server]]) -> dict[int, int | None]:
    """Advance several handshakes one flight at a time, in turn; index -> code (None = done)."""
    results: dict[int, int | None] = {}
    for client, _ in pairs:
        client.initiate()
    while len(results) < len(pairs):
        for index, (client, server) in enumerate(pairs):
            if index in results:
                continue
            out = client.outgoing()
            if out:
                server.conn.bio_write(out)
            server.step()
            back = server.drain()
            try:
                client.feed(back)
            except TlsFailure as failure:
                results[index] = failure.gtsslerr
                continue
            if not out and not back:
                results[index] = None
    return results


class TestLogsArePerConnection:
    """Connections of one context record only their own alerts and X509 errors."""

    def test_a_failing_and_a_good_handshake_interleaved(self) -> None:
        bad = (TlsClient(request()), new_server(server_context(*EXPIRED)))
        good = (TlsClient(request()), new_server(server_context()))
        assert context_of(bad[0]) is context_of(good[0])
        assert pump_together([bad, good]) == {0: GtsslErr.CERTIFICATE_EXPIRED, 1: None}
        assert bad[0].alerts == [("sent", 2, 45)]
        assert (0, 10) in bad[0].verify_errors
        assert good[0].handshake_done
        assert good[0].alerts == []
        assert good[0].verify_errors == [(2, 0), (1, 0), (0, 0)]

    def test_several_failures_keep_their_own_codes(self) -> None:
        pairs = [
            (TlsClient(request()), new_server(server_context("server-untrusted.pem", "server-untrusted.key", ()))),
            (TlsClient(request(server_name="wrong.example.test")), new_server(server_context())),
            (TlsClient(request()), new_server(server_context())),
            (TlsClient(request()), new_server(server_context(*EXPIRED))),
        ]
        assert len({id(context_of(c)) for c, _ in pairs}) == 1
        assert pump_together(pairs) == {0: 48, 1: GtsslErr.HOST_MISMATCH, 2: None, 3: 45}
        assert [c.alerts for c, _ in pairs] == [[("sent", 2, 48)], [("sent", 2, 42)], [], [("sent", 2, 45)]]
        assert pairs[1][0].verify_errors == [(0, 62)]
        assert all(errno == 0 for _, errno in pairs[2][0].verify_errors)

    @pytest.mark.parametrize("order", [("right", "wrong"), ("wrong", "right")])
    def test_the_host_check_is_per_connection(self, order: tuple[str, str]) -> None:
        names = {"right": "www.example.test", "wrong": "wrong.example.test"}
        codes = {"right": None, "wrong": GtsslErr.HOST_MISMATCH}
        for which in order:
            assert outcome(request(server_name=names[which]), server_context())[0] == codes[which]
        assert len(CLIENT_CONTEXTS) == 1

    def test_sni_is_per_connection_and_nothing_is_resumed(self) -> None:
        assert connect(request(), server_context())[0].handshake_done  # a session existed on this context
        hellos = []
        for name in ("a.example.test", "b.example.test", "10.0.0.1"):
            client = TlsClient(request(server_name=name))
            client.initiate()
            hellos.append(parse_client_hello(client.outgoing()))
        assert [h.server_name for h in hellos] == ["a.example.test", "b.example.test", None]
        assert all(h.session_id == b"" and EXT_SESSION_TICKET not in h.extensions for h in hellos)
        assert len(CLIENT_CONTEXTS) == 1

    def test_a_connection_nobody_configured_is_refused(self) -> None:
        # No module clock and no log on it: verifying by the host clock would
        # be silently wrong, so the shared verify callback fails closed.
        conn = SSL.Connection(client_context(request()), None)
        conn.set_connect_state()
        server = new_server(server_context())
        with pytest.raises(SSL.Error, match="certificate verify failed"):
            for _ in range(10):  # a handshake is 2 round trips; the bound only stops a hang
                try:
                    conn.do_handshake()
                except SSL.WantReadError:
                    server.conn.bio_write(conn.bio_read(65536))
                    server.step()
                    conn.bio_write(server.drain())
        assert connect(request(), server_context())[0].handshake_done  # control: configured, same context


CHANGES: dict[str, dict[str, object]] = {
    "trust_file": {"trust_pems": (cert_bytes("other-root-ca.pem"),)},
    "extra_trust_file": {"trust_pems": (ROOT, cert_bytes("other-root-ca.pem"))},
    "no_trust_file": {"trust_pems": ()},
    "cipher": {"cipher_ids": (2,)},
    "cipher_order": {"cipher_ids": (3, 2)},
    "version": {"version": 3},
    "verify": {"verify": False},
    "client_cert": {"cert_pem": CLIENT_PEM, "key_pem": CLIENT_KEY},
}


class TestReuse:
    def test_same_settings_same_context(self) -> None:
        first = client_context(request())
        assert client_context(request()) is first
        # The clock and the host are per connection: not part of the key.
        assert client_context(request(module_time=AFTER_LEAF, server_name="other.example.test")) is first
        assert context_of(TlsClient(request())) is first
        assert len(CLIENT_CONTEXTS) == 1

    def test_equal_but_distinct_file_bodies_share(self) -> None:
        # The profile may hand over a new bytes object for the same file.
        copy = bytes(bytearray(ROOT))
        assert copy is not ROOT
        assert client_context(request(trust_pems=(copy,))) is client_context(request())

    @pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
    def test_changed_settings_get_another_context(self, change: dict[str, object]) -> None:
        base = client_context(request())
        other = client_context(request(**change))
        assert other is not base
        assert client_context(request(**change)) is other
        assert len(CLIENT_CONTEXTS) == 2

    def test_the_offered_order_follows_each_setting(self) -> None:
        # OpenSSL offers the suites in the cipher string's order, so the order
        # is part of the key: the same ids in another order are another hello.
        offered = []
        for ids in ((2, 3), (3, 2), (2, 3)):
            client = TlsClient(request(cipher_ids=ids))
            client.initiate()
            offered.append(parse_client_hello(client.outgoing()).cipher_suites[:2])
        assert offered == [(0x0033, 0x002F), (0x002F, 0x0033), (0x0033, 0x002F)]

    def test_a_client_cert_context_really_presents_it(self) -> None:
        # The other half of "client_cert": the cached context is the one with the identity.
        req = request(cert_pem=CLIENT_PEM, key_pem=CLIENT_KEY)
        client, server = connect(req, server_context(client_ca="root-ca.pem"))
        assert client.handshake_done
        assert server.conn.get_peer_certificate() is not None
        assert outcome(request(), server_context(client_ca="root-ca.pem"))[0] == 40

    def test_build_context_is_never_cached(self) -> None:
        assert build_context(request()) is not build_context(request())
        assert len(CLIENT_CONTEXTS) == 0


class TestFailuresAreNotCached:
    @pytest.mark.parametrize(
        "change",
        [
            {"trust_pems": (BROKEN_PEM,)},
            {"trust_pems": (ROOT, BROKEN_PEM)},
            {"cert_pem": BROKEN_PEM, "key_pem": CLIENT_KEY},
            {"cert_pem": CLIENT_PEM, "key_pem": b"not a key"},
            {"cert_pem": CLIENT_PEM, "key_pem": cert_bytes("server.key")},
        ],
        ids=["trust", "second_trust", "cert", "key", "mismatch"],
    )
    def test_a_broken_pem_is_152_every_time(self, change: dict[str, object]) -> None:
        req = request(**change)
        for _ in range(3):
            with pytest.raises(TlsFailure) as info:
                TlsClient(req)
            assert info.value.gtsslerr == GtsslErr.INVALID
            with pytest.raises(TlsFailure):
                client_context(req)
        assert len(CLIENT_CONTEXTS) == 0
        assert req not in CLIENT_CONTEXTS
        # Control: the cache does store a good request.
        client_context(request())
        assert len(CLIENT_CONTEXTS) == 1
        assert request() in CLIENT_CONTEXTS

    def test_legacy_only_settings_are_40_and_not_cached(self) -> None:
        for req in (request(cipher_ids=(1, 6)), request(version=1)):
            for _ in range(2):
                with pytest.raises(TlsFailure) as info:
                    client_context(req)
                assert info.value.gtsslerr == GtsslErr.HANDSHAKE_FAILURE
        assert len(CLIENT_CONTEXTS) == 0


#: 36 distinct settings: each usable suite alone, then every pair.
DISTINCT = [(a,) for a in (2, 3, 4, 5, 7, 8, 9, 10)] + [
    (a, b) for i, a in enumerate((2, 3, 4, 5, 7, 8, 9, 10)) for b in (2, 3, 4, 5, 7, 8, 9, 10)[i + 1 :]
]


class TestBound:
    def test_the_process_cache_stays_at_its_bound(self) -> None:
        assert len(DISTINCT) > CLIENT_CONTEXTS.maxsize
        for ids in DISTINCT:
            client_context(request(cipher_ids=ids))
            assert len(CLIENT_CONTEXTS) <= CLIENT_CONTEXTS.maxsize
        assert len(CLIENT_CONTEXTS) == CLIENT_CONTEXTS.maxsize
        assert request(cipher_ids=DISTINCT[-1]) in CLIENT_CONTEXTS
        assert request(cipher_ids=DISTINCT[0]) not in CLIENT_CONTEXTS

    def test_the_least_recently_used_goes_first(self) -> None:
        cache = ContextCache(2)
        a, b, c = (request(cipher_ids=(cid,)) for cid in (2, 3, 4))
        ctx_a, ctx_b = cache.get(a), cache.get(b)
        assert cache.get(a) is ctx_a  # a is now the most recent
        cache.get(c)
        assert len(cache) == 2
        assert a in cache and c in cache and b not in cache
        assert cache.get(b) is not ctx_b  # rebuilt
        assert a not in cache  # ... which pushed out a
        cache.clear()
        assert len(cache) == 0

    def test_a_cache_needs_room(self) -> None:
        with pytest.raises(ValueError):
            ContextCache(0)


class TestSpareConnection:
    """A connection made ahead of time (prepare_connection), its ClientHello included, is the next client's on
    the same settings and server name, and is made that client's own as a new one would be: clock and log."""

    @staticmethod
    def spare() -> Any:  # the cache's private _Spare
        entries = list(CLIENT_CONTEXTS._entries.values())
        assert len(entries) == 1
        return entries[0].spare

    def test_the_next_client_on_the_same_settings_and_name_takes_it_once(self) -> None:
        prepare_connection(request())
        assert CLIENT_CONTEXTS.spares() == 1
        spare = self.spare()
        first, second = TlsClient(request()), TlsClient(request())
        assert first._conn is spare.conn
        assert second._conn is not spare.conn
        assert CLIENT_CONTEXTS.spares() == 0
        assert context_of(first) is context_of(second) is client_context(request())

    def test_its_client_hello_is_made_ahead_and_sent_first(self) -> None:
        prepare_connection(request(server_name="a.example.test"))
        made = self.spare().hello
        hello = parse_client_hello(made)
        assert hello.server_name == "a.example.test"
        client = TlsClient(request(server_name="a.example.test"))
        client.initiate()
        assert client.outgoing() == made
        assert client.outgoing() == b""

    def test_another_server_name_drops_it(self) -> None:
        prepare_connection(request(server_name="a.example.test"))
        client = TlsClient(request(server_name="b.example.test"))
        client.initiate()
        assert CLIENT_CONTEXTS.spares() == 0
        assert parse_client_hello(client.outgoing()).server_name == "b.example.test"

    def test_other_settings_do_not_take_it(self) -> None:
        prepare_connection(request())
        TlsClient(request(cipher_ids=(2,)))
        assert CLIENT_CONTEXTS.spares() == 1

    def test_preparing_twice_keeps_one(self) -> None:
        prepare_connection(request())
        prepare_connection(request())
        assert CLIENT_CONTEXTS.spares() == 1

    @pytest.mark.parametrize(
        ("prepared_for", "taken_by", "code", "spare_taken"),
        [
            # The clock is the taker's: prepared under a clock that refuses the leaf, taken under one that
            # accepts it, and the reverse.
            ({"module_time": AFTER_LEAF}, {}, None, True),
            ({}, {"module_time": AFTER_LEAF}, GtsslErr.CERTIFICATE_EXPIRED, True),
            # The host check is the name's: made for the wrong name, it refuses as a new one would.
            ({"server_name": "wrong.example.test"}, {"server_name": "wrong.example.test"}, GtsslErr.HOST_MISMATCH,
             True),
            ({"server_name": "wrong.example.test"}, {}, None, False),
            ({}, {"server_name": "wrong.example.test"}, GtsslErr.HOST_MISMATCH, False),
        ],
    )
    def test_the_handshake_is_the_takers(
        self, prepared_for: dict[str, object], taken_by: dict[str, object], code: int | None, spare_taken: bool
    ) -> None:
        prepare_connection(request(**prepared_for))
        spare = self.spare().conn
        result, client = outcome(request(**taken_by), server_context())
        assert result == code
        assert (client._conn is spare) is spare_taken
        assert CLIENT_CONTEXTS.spares() == 0

    def test_settings_openssl_cannot_start_make_no_spare(self) -> None:
        # TLS 1.0 with only SHA-256 suites: no ClientHello can be made ("no ciphers available", 80 at the open)
        no_suite = request(version=2, cipher_ids=(7,))
        prepare_connection(no_suite)
        assert CLIENT_CONTEXTS.spares() == 0
        with pytest.raises(TlsFailure):
            TlsClient(no_suite).initiate()

    def test_unusable_settings_make_no_spare_and_fail_at_the_open(self) -> None:
        broken = request(trust_pems=(BROKEN_PEM,))
        prepare_connection(broken)  # quietly nothing: the open reports it
        assert CLIENT_CONTEXTS.spares() == 0 and len(CLIENT_CONTEXTS) == 0
        with pytest.raises(TlsFailure) as failure:
            TlsClient(broken)
        assert failure.value.gtsslerr == GtsslErr.INVALID  # 152: an unusable file

    def test_clear_drops_the_spares(self) -> None:
        prepare_connection(request())
        CLIENT_CONTEXTS.clear()
        assert CLIENT_CONTEXTS.spares() == 0


def test_threads_opening_at_once_share_one_context_per_setting() -> None:
    settings = [request(cipher_ids=(cid,)) for cid in (2, 3, 4, 5)]
    barrier = threading.Barrier(8)
    seen: list[list[SSL.Context]] = [[] for _ in range(8)]

    def open_all(slot: int) -> None:
        barrier.wait()
        for _ in range(20):
            for req in settings:
                seen[slot].append(client_context(req))

    threads = [threading.Thread(target=open_all, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(CLIENT_CONTEXTS) == len(settings)
    for index, req in enumerate(settings):
        ctxs = {id(s[i]) for s in seen for i in range(index, len(s), len(settings))}
        assert ctxs == {id(client_context(req))}


def test_a_key_log_switched_on_after_the_context_was_cached_logs_the_next_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The cache keys on whether a key log is on: $SSLKEYLOGFILE set later (not through keylog.configure)
    # must not reuse the context built without the key log callback.
    monkeypatch.delenv(keylog.ENV, raising=False)
    assert keylog.target() is None
    req = request()
    without = context_of(connect(req, server_context())[0])
    path = tmp_path / "keys.log"
    monkeypatch.setenv(keylog.ENV, str(path))
    with_log = context_of(connect(req, server_context())[0])
    assert with_log is not without
    assert "\nCLIENT_RANDOM " in "\n" + path.read_text()
    monkeypatch.delenv(keylog.ENV)
    assert context_of(connect(req, server_context())[0]) is without  # off again: the first one, still cached
