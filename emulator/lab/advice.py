"""What ``nl668-lab check`` advises: the settings, files or clock that make each variant connect.

Every piece of advice comes from what the check measured, never from a guess:

* settings: the cells that connected (``+GTSSLVER`` / ``+GTSSLCIPHER`` lines of the best one);
* a verification failure (mode 1 fails where mode 0 with the same hello connects) is
  explained from the X509 errors and the chain the server sent, and the cure is tried
  once more through the same engine before it is offered: the missing TRUSTFILE (when the
  server sent it, or a ``--ca-pool`` / system bundle holds it), a module clock inside the
  chain's validity, a host name the certificate holds;
* when nothing connects, the reasons are summed up (the server wants a client
  certificate, answers every hello the variant can make with an alert, does not speak
  TLS, never answers), with what a modern client negotiates there as evidence.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from emulator.core.codes import FailureClass
from emulator.tls.alert_codes import TIME_ERRORS, X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
from emulator.tls.context_factory import is_ip_literal

from .check import Attempt, Cell, CheckError, Report, Setting, attempt_handshake

__all__ = ["Advice", "advise", "cclk", "describe_cert", "load_pool"]

#: X509 errors a missing or untrusted issuer causes (the cure: a TRUSTFILE)
CHAIN_ERRORS = frozenset({2, 3, 18, 19, 20, 21})
HOST_ERRORS = frozenset({X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH})


@dataclass(slots=True)
class Advice:
    """The advice for one group of variants that behaved alike."""

    variants: list[str]
    verdict: str  #: "connects", "connects after a fix", "cannot connect"
    lines: list[str] = field(default_factory=list)  #: sentences for a person
    at_lines: list[str] = field(default_factory=list)  #: AT commands that make it connect (measured)
    trust_pem: bytes | None = None  #: a TRUSTFILE to upload (confirmed by a handshake)
    trust_subject: str = ""
    clock: datetime | None = None  #: a module clock that works (confirmed)
    servername: str | None = None  #: a host name to dial that the certificate holds (confirmed)
    client_cert_needed: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "variants": self.variants, "verdict": self.verdict, "advice": self.lines, "at": self.at_lines,
            "trustfile_subject": self.trust_subject or None,
            "trustfile_pem": self.trust_pem.decode("ascii") if self.trust_pem else None,
            "clock": self.clock.isoformat() if self.clock else None, "servername": self.servername,
            "client_certificate_needed": self.client_cert_needed,
        }


def describe_cert(cert: x509.Certificate) -> str:
    """``subject``, issuer and validity on one line (what a person needs to find the file)."""
    return (f"'{cert.subject.rfc4514_string()}' (issuer '{cert.issuer.rfc4514_string()}', valid "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)")


def cclk(instant: datetime) -> str:
    """``AT+CCLK="yy/MM/dd,hh:mm:ss+00"`` for a UTC instant (manual: local time and quarter-hour zone)."""
    return f'AT+CCLK="{instant.astimezone(timezone.utc):%y/%m/%d,%H:%M:%S}+00"'


def load_pool(paths: Sequence[str | Path], *, system: bool = True) -> list[x509.Certificate]:
    """Certificates to look a missing issuer up in: the given PEM files, then the system CA bundle.

    Raises:
        CheckError: a given file cannot be read or holds no certificate (a system bundle that is
            missing or unreadable is only left out: the user did not name it).
    """
    pool: list[x509.Certificate] = []
    for path in paths:
        try:
            pool += _load_pem_certs(Path(path))
        except OSError as exc:
            raise CheckError(f"cannot read --ca-pool {path}: {exc.strerror or exc}") from None
        except ValueError:
            raise CheckError(f"--ca-pool {path} holds no PEM certificate") from None
    cafile = ssl.get_default_verify_paths().cafile if system else None
    if cafile:
        with suppress(OSError, ValueError):
            pool += _load_pem_certs(Path(cafile))
    return pool


def _load_pem_certs(path: Path) -> list[x509.Certificate]:
    with warnings.catch_warnings():  # old roots in system bundles trip cryptography's deprecations
        warnings.simplefilter("ignore")
        return x509.load_pem_x509_certificates(path.read_bytes())


def _certs(attempt: Attempt) -> list[x509.Certificate]:
    out = []
    for der in attempt.peer_chain:
        try:
            out.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return out


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def _ranges(ids: Sequence[int]) -> str:
    return ",".join(str(i) for i in ids)


def _failed_x509(attempt: Attempt) -> set[int]:
    return {errno for _, errno in attempt.verify_errors if errno}


class _Advisor:
    def __init__(self, report: Report, pool: Sequence[x509.Certificate]) -> None:
        self.report = report
        self.config = report.config
        self.pool = list(pool)
        self.targets = [report.address] if report.address else []

    async def confirm(self, cell: Cell, **changes: object) -> bool:
        """Run ``cell``'s request again with ``changes`` (a TlsRequest field each): does it connect now?"""
        request = replace(cell.request, **changes)  # type: ignore[arg-type]
        attempt = await attempt_handshake(request, self.targets, self.config.timeout)
        return attempt.opened

    async def advise(self, variants: list[str]) -> Advice:
        cells = self.report.of(variants[0])
        profile = next(p for p in self.config.profiles if p.name == variants[0])
        advice = Advice(variants=variants, verdict="cannot connect")
        verified = [c for c in cells if c.opened and c.setting.mode == 1]
        unverified = [c for c in cells if c.opened and c.setting.mode == 0]
        power_on = Setting(profile.ssl.default_version, None, 1)
        if verified:
            self._settings(advice, verified, power_on)
            return advice
        refused = [c for c in cells if not c.opened and c.setting.mode == 1
                   and c.attempt.failure in (FailureClass.VERIFY, FailureClass.TIME)]
        if refused:
            # The hello is accepted; only verification fails: find out why and try the cure.
            await self._verification(advice, refused, power_on)
            if advice.verdict == "cannot connect" and unverified:
                advice.lines.append(
                    "+GTSSLMODE=0 (no verification) connects with: "
                    + "; ".join(sorted({f"+GTSSLVER={c.setting.version}" for c in unverified}))
                    + " (not advised: the module then trusts any server)")
            return advice
        if unverified:
            # Only +GTSSLMODE=0 connects (or only it was tried): say so, with what mode 1 did if it was tried.
            self._settings(advice, unverified, replace(power_on, mode=0))
            advice.lines.insert(0, "connects without verification (+GTSSLMODE=0): the module then trusts any server")
            failed = next((c for c in cells if c.setting.mode == 1 and not c.opened), None)
            if failed is not None:
                advice.lines.append(f"with +GTSSLMODE=1 it fails: {failed.attempt.why}")
            return advice
        await self._nothing(advice, cells)
        return advice

    # -- something connects ------------------------------------------------------------------------------

    def _settings(self, advice: Advice, verified: list[Cell], power_on: Setting) -> None:
        advice.verdict = "connects"
        by_version: dict[int, list[Cell]] = {}
        for c in verified:
            by_version.setdefault(c.setting.version, []).append(c)
        defaults = [c for c in verified if c.setting.cipher is None]
        best = next((c for c in verified if c.setting == power_on), None)
        if best is not None:
            advice.lines.append(f"connects with its power-on +GTSSLVER and ciphers (+GTSSLMODE={power_on.mode}, "
                                "the files given)")
        else:
            best = max(defaults, key=lambda c: c.setting.version) if defaults else verified[0]
            advice.lines.append(f"does not connect with its power-on settings; set: {'; '.join(best.setting.at_lines())}")
        for version, cs in sorted(by_version.items()):
            ids = sorted(c.setting.cipher for c in cs if c.setting.cipher is not None)
            dflt = "default ciphers" if any(c.setting.cipher is None for c in cs) else "not the default set"
            shown = next((c for c in cs if c.setting.cipher is None), cs[0])
            singles = self.config.ciphers is None or any(c is not None for c in self.config.ciphers)
            alone = f"; alone, ids {_ranges(ids) or 'none'}" if singles else ""
            advice.lines.append(f"+GTSSLVER={version}: connects with {dflt}{alone} ({shown.attempt.negotiated})")
        advice.at_lines = list(best.setting.at_lines())

    # -- verification fails --------------------------------------------------------------------------------

    async def _verification(self, advice: Advice, refused: list[Cell], power_on: Setting) -> None:
        # The power-on settings if their hello is accepted, else the default set at the newest version.
        failed = max(refused, key=lambda c: (c.setting == power_on, c.setting.cipher is None, c.setting.version))
        errors = _failed_x509(failed.attempt)
        chain = _certs(failed.attempt)
        advice.lines.append(f"verification fails ({failed.attempt.why})")
        if not self.config.trust_pems:
            advice.lines.append("no TRUSTFILE is loaded: with +GTSSLMODE=1 the module needs the root of the server's chain")
        at = list(failed.setting.at_lines())
        if errors & HOST_ERRORS:
            await self._host(advice, failed, chain, at)
        elif errors and errors <= TIME_ERRORS:
            await self._time(advice, failed, chain, at)
        elif errors & CHAIN_ERRORS or not self.config.trust_pems:
            await self._trust(advice, failed, chain, at)
        else:
            advice.lines.append("the server's certificate itself is refused (X509 errors "
                                f"{sorted(errors)}): no module setting cures it; the certificate must change")

    async def _host(self, advice: Advice, failed: Cell, chain: list[x509.Certificate], at: list[str]) -> None:
        names = _names(chain[0]) if chain else []
        advice.lines.append(f"the certificate is not for '{failed.request.server_name}'; it holds: "
                            + (", ".join(names) or "no name"))
        for name in names:
            if "*" in name:
                continue
            if await self.confirm(failed, server_name=name):
                advice.verdict = "connects after a fix"
                advice.servername = name
                advice.at_lines = at + [f'AT+MIPOPEN=1,,"{name}",{self.config.port},2']
                advice.lines.append(f"confirmed: dialling '{name}' (resolving to this server) connects")
                return

    async def _time(self, advice: Advice, failed: Cell, chain: list[x509.Certificate], at: list[str]) -> None:
        if not chain:
            return
        start = max(c.not_valid_before_utc for c in chain)
        end = min(c.not_valid_after_utc for c in chain)
        now = self.report.module_time
        advice.lines.append(f"by the module clock ({now:%Y-%m-%d %H:%M} UTC) the chain is not valid; "
                            f"it is valid from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
        for cert in chain:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                advice.lines.append(f"  out of date: {describe_cert(cert)}")
        if start >= end:
            advice.lines.append("no clock satisfies every certificate: the server's chain must be renewed")
            return
        real = datetime.now(timezone.utc)
        if not start <= real <= end:
            advice.lines.append("by today's date too: the server's certificate needs renewing; meanwhile a module "
                                "clock inside the window connects")
        instant = min(start + timedelta(days=1), start + (end - start) / 2)
        if await self.confirm(failed, module_time=instant):
            advice.verdict = "connects after a fix"
            advice.clock = instant
            advice.at_lines = [cclk(instant)] + at
            advice.lines.append(f"confirmed: with the module clock at {instant:%Y-%m-%d %H:%M} UTC it connects "
                                f"(any AT+CCLK between {start:%y/%m/%d,%H:%M:%S} and {end:%y/%m/%d,%H:%M:%S} UTC)")

    async def _trust(self, advice: Advice, failed: Cell, chain: list[x509.Certificate], at: list[str]) -> None:
        if not chain:
            return
        top = _top(chain)
        sent = ", ".join(f"'{c.subject.rfc4514_string()}'" for c in chain)
        advice.lines.append(f"the server sends {len(chain)} certificate(s): {sent}")
        candidates: list[x509.Certificate] = []
        if top.subject == top.issuer:
            candidates.append(top)  # the server sent its root: that is the file to trust
        else:
            issuer = top.issuer
            advice.lines.append(f"the chain ends at {describe_cert(top)}; its issuer "
                                f"'{issuer.rfc4514_string()}' is not among the TRUSTFILEs"
                                + ("" if self._sent(issuer, chain) else " and the server did not send it"))
            candidates += [c for c in self.pool if c.subject == issuer and _issued(top, c)]
        for candidate in candidates:
            pem = _pem(candidate)
            if await self.confirm(failed, trust_pems=(*failed.request.trust_pems, pem)):
                advice.verdict = "connects after a fix"
                advice.trust_pem = pem
                advice.trust_subject = candidate.subject.rfc4514_string()
                where = "sent by the server" if any(candidate == c for c in chain) else "found in the CA pool"
                advice.lines.append(f"the module needs this TRUSTFILE ({where}): {describe_cert(candidate)}")
                advice.lines.append(f"confirmed: with it loaded the module connects; upload it with "
                                    f'AT+GTSSLFILE="TRUSTFILE",{len(pem)} (--write-trust FILE writes it)')
                advice.at_lines = [f'AT+GTSSLFILE="TRUSTFILE",{len(pem)}'] + at
                return
        if top.subject != top.issuer:
            advice.lines.append(f"the module needs '{top.issuer.rfc4514_string()}' as a TRUSTFILE: get it from "
                                "the CA or the server's operator (or have the server send its full chain, if it "
                                "is an intermediate CA and the root is already a TRUSTFILE)")

    @staticmethod
    def _sent(name: x509.Name, chain: list[x509.Certificate]) -> bool:
        return any(c.subject == name for c in chain)

    # -- nothing connects ----------------------------------------------------------------------------------

    async def _nothing(self, advice: Advice, cells: list[Cell]) -> None:
        stages = {c.attempt.stage for c in cells}
        if stages == {"connect"}:
            advice.lines.append(f"the server is unreachable: {cells[0].attempt.why}")
            return
        if stages == {"timeout"}:
            advice.lines.append(f"the server never answers the ClientHello ({cells[0].attempt.why})")
            return
        client_cert = [c for c in cells if self._wants_client_cert(c.attempt)]
        if client_cert:
            advice.client_cert_needed = True
            a = client_cert[0].attempt
            names = f" (it names the CAs: {'; '.join(a.client_ca_names)})" if a.client_ca_names else ""
            if self.config.cert_pem is None:
                advice.lines.append("the server requires a client certificate: it refused the handshake after "
                                    f"sending its own certificate ({a.why}){names}; load CERTFILE and KEYFILE "
                                    "(check again with --cert FILE --key FILE)")
            else:
                advice.lines.append(f"the server refuses the module's client certificate ({a.why}){names}: it needs "
                                    "one issued by a CA the server trusts")
            return
        reasons = sorted({(c.gtsslerr, c.attempt.why) for c in cells}, key=str)
        advice.lines.append("no setting of this variant connects; every ClientHello it can send was refused:")
        for code, why in reasons[:6]:
            advice.lines.append(f"  +GTSSLERR {code}: {why}")
        modern = await self._modern()
        if not modern and not any(c.attempt.peer_chain for c in cells):
            advice.lines.append("measured: a current client (TLS 1.2-1.3) cannot handshake there either: is the "
                                "server speaking TLS on this port? No AT setting fixes this")
            return
        versions = sorted({c.setting.version for c in cells})
        tried = "every cipher id of the variant" if self.config.ciphers is None else "the cipher ids given"
        advice.lines.append(f"tried +GTSSLVER {', '.join(map(str, versions))} with {tried}; "
                            "no AT setting fixes this: the server must offer TLS 1.0-1.2 with a suite the "
                            "module has (RSA or DHE-RSA key exchange, AES or 3DES CBC)")
        if modern:
            advice.lines.append(f"measured: a current client negotiates {modern} there (ECDHE or TLS 1.3: "
                                "no NL668 suite matches)")

    def _wants_client_cert(self, attempt: Attempt) -> bool:
        # The server refused after sending its certificate, which verification accepted (or was off):
        # what is left for it to dislike is the client's (missing) certificate.
        received = [desc for d, level, desc in attempt.alerts if d == "recv" and level == 2]
        return bool(attempt.client_ca_names) or (
            bool(attempt.peer_chain) and bool(received) and not _failed_x509(attempt)
            and attempt.failure is FailureClass.ALERT)

    async def _modern(self) -> str:
        """What a default OpenSSL client (TLS 1.2-1.3, ECDHE) negotiates: evidence for "nothing matches"."""
        if not self.targets:
            return ""
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_verify(SSL.VERIFY_NONE)
        conn = SSL.Connection(ctx, None)
        conn.set_connect_state()
        name = self.config.dial_name
        if not is_ip_literal(name):  # the module's SNI rule
            conn.set_tlsext_host_name(name.encode("idna"))
        try:
            async with asyncio.timeout(self.config.timeout):
                reader, writer = await asyncio.open_connection(*self.targets[0])
                try:
                    while True:
                        try:
                            conn.do_handshake()
                            return f"{conn.get_protocol_version_name()} {conn.get_cipher_name()}"
                        except SSL.WantReadError:
                            pass
                        try:
                            writer.write(conn.bio_read(65536))
                        except SSL.WantReadError:
                            pass
                        data = await reader.read(65536)
                        if not data:
                            return ""
                        conn.bio_write(data)
                finally:
                    writer.close()
        except (TimeoutError, OSError, SSL.Error):
            return ""


def _names(cert: x509.Certificate) -> list[str]:
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName)
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except (x509.ExtensionNotFound, ValueError):  # none, or malformed extensions: the CN is still told
        pass
    names += [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return list(dict.fromkeys(names))


def _top(chain: list[x509.Certificate]) -> x509.Certificate:
    """The last certificate of the path the server sent, following issuers from the leaf."""
    current = chain[0]
    seen = {id(current)}
    while current.subject != current.issuer:
        nxt = next((c for c in chain if id(c) not in seen and c.subject == current.issuer and _issued(current, c)),
                   None)
        if nxt is None:
            break
        seen.add(id(nxt))
        current = nxt
    return current


def _issued(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):  # another key, name or algorithm: not this issuer
        return False
    return True


async def advise(report: Report, pool: Sequence[x509.Certificate] = ()) -> list[Advice]:
    """Advice per group of variants whose rows are alike (same results in every cell)."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for variant in report.variants():
        key = tuple((c.setting, c.opened, c.gtsslerr) for c in report.of(variant))
        groups.setdefault(key, []).append(variant)
    advisor = _Advisor(report, pool)
    return list(await asyncio.gather(*(advisor.advise(vs) for vs in groups.values())))
