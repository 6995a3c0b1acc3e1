"""Facts about the committed test PKI in ``certs/`` (see certs/README.md).

These read the committed files only (never certs/make_certs.py), so a
regeneration that changes the meaning of a file fails here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import tomllib
import warnings

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    PolicyBuilder,
    ServerVerifier,
    Store,
    VerificationError,
)
from OpenSSL import SSL, crypto

from emulator.servers.pki import CERTS_DIR, cert_bytes

UTC = dt.timezone.utc
VALID = (dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2045, 1, 1, tzinfo=UTC))
EXPIRED = (dt.datetime(2019, 1, 1, tzinfo=UTC), dt.datetime(2020, 1, 1, tzinfo=UTC))
FUTURE = (dt.datetime(2040, 1, 1, tzinfo=UTC), dt.datetime(2045, 1, 1, tzinfo=UTC))
CA = (dt.datetime(2010, 1, 1, tzinfo=UTC), dt.datetime(2050, 1, 1, tzinfo=UTC))  # spans every leaf
#: A module clock (AT+CCLK) inside every "valid" window.
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)
FILE_LIMIT = 8192

SERVER_SAN: set[x509.GeneralName] = {
    x509.DNSName("localhost"),
    x509.DNSName("www.example.test"),
    x509.DNSName("www.baidu.com"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("114.255.225.39")),
    x509.IPAddress(ipaddress.ip_address("188.93.19.231")),
}

# name -> (issuer file or None for self-signed, validity window, is CA)
CERTS: dict[str, tuple[str | None, tuple[dt.datetime, dt.datetime], bool]] = {
    "root-ca.pem": (None, CA, True),
    "intermediate-ca.pem": ("root-ca.pem", CA, True),
    "other-root-ca.pem": (None, CA, True),
    "server.pem": ("intermediate-ca.pem", VALID, False),
    "server-expired.pem": ("intermediate-ca.pem", EXPIRED, False),
    "server-not-yet-valid.pem": ("intermediate-ca.pem", FUTURE, False),
    "server-wrong-host.pem": ("intermediate-ca.pem", VALID, False),
    "server-self-signed.pem": (None, VALID, False),
    "server-untrusted.pem": ("other-root-ca.pem", VALID, False),
    "client.pem": ("root-ca.pem", VALID, False),
    "client-other-ca.pem": ("other-root-ca.pem", VALID, False),
    "big-trust.pem": (None, VALID, True),
    "too-big.pem": (None, VALID, True),
}
SERVER_LEAVES = [n for n in CERTS if n.startswith("server")]
CLIENT_LEAVES = ["client.pem", "client-other-ca.pem"]
# certificate -> its PKCS#1 key file
KEYS: dict[str, str] = {
    name: name.removesuffix(".pem") + ".key"
    for name in CERTS
    if name != "too-big.pem"
}


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_bytes(name))


def key(name: str) -> rsa.RSAPrivateKey:
    loaded = serialization.load_pem_private_key(cert_bytes(name), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def common_name(c: x509.Certificate) -> str:
    value = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


def sans(c: x509.Certificate) -> set[x509.GeneralName]:
    return set(c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


# --- inventory -------------------------------------------------------------


def test_manifest_lists_exactly_the_generated_files() -> None:
    manifest = tomllib.loads(cert_bytes("manifest.toml").decode("ascii"))["files"]
    on_disk = {p.name for p in CERTS_DIR.iterdir() if p.is_file()}
    # __init__.py makes certs/ the package emulator.data.certs (setup.py)
    assert set(manifest) == on_disk - {"README.md", "make_certs.py", "manifest.toml", "__init__.py"}
    for name, table in manifest.items():
        assert table["purpose"], name
    for name, (issuer, (nb, na), _) in CERTS.items():
        table = manifest[name]
        assert table["signed_by"] == (issuer or "self")
        assert table["not_before"] == nb.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert table["not_after"] == na.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert table["serial"] == cert(name).serial_number


def test_cert_bytes_names_the_directory_when_missing() -> None:
    with pytest.raises(FileNotFoundError, match="certs"):
        cert_bytes("no-such-file.pem")
    with pytest.raises(FileNotFoundError):
        cert_bytes("../pyproject.toml")


PEM_FILES = sorted(p.name for p in CERTS_DIR.iterdir() if p.suffix in {".pem", ".key"})


@pytest.mark.parametrize("name", PEM_FILES)
def test_pem_files_use_lf_and_end_with_one_newline(name: str) -> None:
    data = cert_bytes(name)
    assert b"\r" not in data
    assert data.endswith(b"-----\n") and not data.endswith(b"\n\n")


# --- certificates ------------------------------------------------------------


@pytest.mark.parametrize("name", CERTS)
def test_certificate_basics(name: str) -> None:
    issuer_name, (not_before, not_after), is_ca = CERTS[name]
    c = cert(name)
    assert c.version is x509.Version.v3
    assert isinstance(c.signature_hash_algorithm, hashes.SHA256)
    public = c.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    assert c.not_valid_before_utc == not_before
    assert c.not_valid_after_utc == not_after

    bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is is_ca
    ku = c.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign is is_ca and ku.value.digital_signature
    if not is_ca:
        assert ku.value.key_encipherment  # plain-RSA key exchange suites
    ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(public)

    issuer = c if issuer_name is None else cert(issuer_name)
    assert c.issuer == issuer.subject
    c.verify_directly_issued_by(issuer)
    aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest


def test_fixed_names_and_serials_are_distinct() -> None:
    assert common_name(cert("root-ca.pem")) == "NL668 Emulator Test Root CA"
    assert common_name(cert("server.pem")) == "www.example.test"
    assert common_name(cert("client.pem")) == "nl668-emulator-client"
    serials = [cert(n).serial_number for n in CERTS]
    assert len(set(serials)) == len(serials)


def test_chain_and_trust_relations() -> None:
    root, inter, other = cert("root-ca.pem"), cert("intermediate-ca.pem"), cert("other-root-ca.pem")
    cert("server.pem").verify_directly_issued_by(inter)
    inter.verify_directly_issued_by(root)
    with pytest.raises(ValueError):  # issuer name mismatch
        cert("server.pem").verify_directly_issued_by(root)
    with pytest.raises(ValueError):
        cert("server-untrusted.pem").verify_directly_issued_by(inter)
    cert("server-untrusted.pem").verify_directly_issued_by(other)
    # The self-signed leaf shares nothing with the PKI.
    with pytest.raises((ValueError, InvalidSignature)):
        cert("server-self-signed.pem").verify_directly_issued_by(inter)
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0


def test_server_chain_is_leaf_then_intermediate() -> None:
    chain = x509.load_pem_x509_certificates(cert_bytes("server-chain.pem"))
    assert chain == [cert("server.pem"), cert("intermediate-ca.pem")]
    assert cert_bytes("server-chain.pem") == cert_bytes("server.pem") + cert_bytes("intermediate-ca.pem")


@pytest.mark.parametrize("name", SERVER_LEAVES)
def test_server_leaf_names_and_eku(name: str) -> None:
    c = cert(name)
    eku = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    if name == "server-wrong-host.pem":
        assert sans(c) == {x509.DNSName("wrong.example.test")}
        assert common_name(c) == "wrong.example.test"
    else:
        assert sans(c) == SERVER_SAN
        assert common_name(c) == "www.example.test"


@pytest.mark.parametrize("name", CLIENT_LEAVES)
def test_client_leaf_eku(name: str) -> None:
    c = cert(name)
    eku = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert common_name(c) == "nl668-emulator-client"


# --- keys --------------------------------------------------------------------


@pytest.mark.parametrize("name", KEYS)
def test_key_matches_certificate_and_is_pkcs1(name: str) -> None:
    key_file = KEYS[name]
    data = cert_bytes(key_file)
    assert data.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert data.endswith(b"-----END RSA PRIVATE KEY-----\n")
    assert b"ENCRYPTED" not in data
    public = cert(name).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert key(key_file).public_key().public_numbers() == public.public_numbers()


def test_client_pkcs8_copy_is_the_same_key() -> None:
    data = cert_bytes("client-pkcs8.key")
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert data.endswith(b"-----END PRIVATE KEY-----\n")
    assert key("client-pkcs8.key").private_numbers() == key("client.key").private_numbers()


def test_keys_do_not_match_other_certificates() -> None:
    server = cert("server.pem").public_key()
    assert isinstance(server, rsa.RSAPublicKey)
    assert key("server-expired.key").public_key().public_numbers() != server.public_numbers()


# --- size-limit trust files -------------------------------------------------


def test_big_trust_is_just_under_the_file_limit() -> None:
    data = cert_bytes("big-trust.pem")
    assert 7800 <= len(data) <= FILE_LIMIT
    assert len(x509.load_pem_x509_certificates(data)) == 1


def test_too_big_is_over_the_file_limit_but_valid() -> None:
    data = cert_bytes("too-big.pem")
    assert len(data) > FILE_LIMIT
    c = x509.load_pem_x509_certificate(data)
    c.verify_directly_issued_by(c)


# --- DH parameters -------------------------------------------------------------


def test_ffdhe2048_params() -> None:
    data = cert_bytes("ffdhe2048.pem")
    assert data.startswith(b"-----BEGIN DH PARAMETERS-----\n")
    # cryptography 50 deprecates FFDH: even touching dh.DHParameters warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        params = serialization.load_pem_parameters(data)
        assert isinstance(params, dh.DHParameters)
        numbers = params.parameter_numbers()
    assert numbers.g == 2
    assert numbers.p.bit_length() == 2048
    # RFC 7919 groups have their top and bottom 64 bits all set.
    assert numbers.p >> (2048 - 64) == 2**64 - 1
    assert numbers.p & (2**64 - 1) == 2**64 - 1


# --- full path validation ----------------------------------------------------


def _server_verifier(host: x509.GeneralName, when: dt.datetime = NOW) -> ServerVerifier:
    assert isinstance(host, (x509.DNSName, x509.IPAddress))
    return (
        PolicyBuilder()
        .store(Store([cert("root-ca.pem")]))
        .time(when)
        .build_server_verifier(host)
    )


@pytest.mark.parametrize("host", sorted(SERVER_SAN, key=str), ids=str)
def test_server_chain_validates_for_every_san(host: x509.GeneralName) -> None:
    verifier = _server_verifier(host)
    chain = verifier.verify(cert("server.pem"), [cert("intermediate-ca.pem")])
    assert chain == [cert("server.pem"), cert("intermediate-ca.pem"), cert("root-ca.pem")]


@pytest.mark.parametrize(
    "name",
    [
        "server-expired.pem",
        "server-not-yet-valid.pem",
        "server-wrong-host.pem",
        "server-self-signed.pem",
        "server-untrusted.pem",
    ],
)
def test_bad_server_leaves_fail_path_validation(name: str) -> None:
    verifier = _server_verifier(x509.DNSName("www.example.test"))
    with pytest.raises(VerificationError):
        verifier.verify(cert(name), [cert("intermediate-ca.pem"), cert("other-root-ca.pem")])


def test_server_without_intermediate_fails() -> None:
    verifier = _server_verifier(x509.DNSName("www.example.test"))
    with pytest.raises(VerificationError):
        verifier.verify(cert("server.pem"), [])


def test_client_validates_against_root_only() -> None:
    verifier = PolicyBuilder().store(Store([cert("root-ca.pem")])).time(NOW).build_client_verifier()
    verifier.verify(cert("client.pem"), [])
    with pytest.raises(VerificationError):
        verifier.verify(cert("client-other-ca.pem"), [])


# --- the X509 error codes OpenSSL gives (tls-engine.md §0 item 2) -----------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("server.pem", 0),
        ("server-wrong-host.pem", 0),  # host name is checked separately (62)
        ("server-expired.pem", 10),
        ("server-not-yet-valid.pem", 9),
        ("server-self-signed.pem", 18),
        ("server-untrusted.pem", 20),
    ],
)
def test_openssl_verify_error_codes(name: str, error: int) -> None:
    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(cert("root-ca.pem")))
    store.set_time(NOW.replace(tzinfo=None))
    ctx = crypto.X509StoreContext(
        store,
        crypto.X509.from_cryptography(cert(name)),
        chain=[crypto.X509.from_cryptography(cert("intermediate-ca.pem"))],
    )
    if error == 0:
        ctx.verify_certificate()
        return
    with pytest.raises(crypto.X509StoreContextError) as info:
        ctx.verify_certificate()
    assert info.value.errors[0] == error


# --- the files load where the test servers use them ---------------------------


def test_pyopenssl_server_context_loads_chain_key_and_dh() -> None:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.use_certificate_chain_file(str(CERTS_DIR / "server-chain.pem"))
    ctx.use_privatekey_file(str(CERTS_DIR / "server.key"))
    ctx.check_privatekey()
    ctx.load_tmp_dh(str(CERTS_DIR / "ffdhe2048.pem"))
    client = SSL.Context(SSL.TLS_METHOD)
    client.use_certificate_file(str(CERTS_DIR / "client.pem"))
    client.use_privatekey_file(str(CERTS_DIR / "client-pkcs8.key"))
    client.check_privatekey()
    client.load_verify_locations(str(CERTS_DIR / "big-trust.pem"))
