"""Proxy-URL tokens (addons/proxy_url/token.py): sealing, opening, tampering, rotation."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from addons.proxy_url.token import (
    MIN_SECRET_CHARS,
    NONCE_BYTES,
    TAG_BYTES,
    VERSION,
    InvalidToken,
    TokenSealer,
    derive_key,
    parse_secrets,
)

SECRET_A = "secret-A-0123456789abcdef-0123456789"
SECRET_B = "secret-B-fedcba9876543210-9876543210"
CONFIG = b'{"source":{"protocol":"anthropic"},"target":{"provider":"openai","auth":{"type":"bearer","token":"sk-x"}}}'
URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEADER = 1 + NONCE_BYTES


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@pytest.fixture
def sealer() -> TokenSealer:
    return TokenSealer([SECRET_A])


# --- the format ---


def test_round_trip(sealer):
    assert sealer.open(sealer.seal(CONFIG)) == CONFIG


def test_empty_plaintext_round_trips(sealer):
    token = sealer.seal(b"")
    assert len(unb64(token)) == HEADER + TAG_BYTES
    assert sealer.open(token) == b""


def test_layout_is_version_nonce_ciphertext_tag_with_the_version_as_associated_data(sealer):
    raw = unb64(sealer.seal(CONFIG))
    assert raw[0] == VERSION == 1
    assert len(raw) == 1 + NONCE_BYTES + len(CONFIG) + TAG_BYTES
    nonce, sealed = raw[1:HEADER], raw[HEADER:]
    # an independent AES-256-GCM with the HKDF key opens it, with the version byte as associated data
    assert AESGCM(derive_key(SECRET_A)).decrypt(nonce, sealed, bytes([VERSION])) == CONFIG
    with pytest.raises(Exception):
        AESGCM(derive_key(SECRET_A)).decrypt(nonce, sealed, b"")


def test_a_token_without_the_version_as_associated_data_does_not_open(sealer):
    nonce = bytes(range(NONCE_BYTES))
    raw = bytes([VERSION]) + nonce + AESGCM(derive_key(SECRET_A)).encrypt(nonce, CONFIG, None)
    with pytest.raises(InvalidToken):
        sealer.open(b64(raw))


def test_derive_key_is_32_bytes_deterministic_and_per_secret():
    assert len(derive_key(SECRET_A)) == 32
    assert derive_key(SECRET_A) == derive_key(SECRET_A)
    assert derive_key(SECRET_A) != derive_key(SECRET_B)
    assert derive_key(SECRET_A) != SECRET_A.encode()[:32]


def test_two_seals_of_the_same_config_differ(sealer):
    first, second = sealer.seal(CONFIG), sealer.seal(CONFIG)
    assert first != second
    assert unb64(first)[1:HEADER] != unb64(second)[1:HEADER]  # the nonces
    assert sealer.open(first) == sealer.open(second) == CONFIG


def test_a_token_is_one_url_path_segment(sealer):
    for plaintext in (CONFIG, b"\xff" * 300, bytes(range(256)), b"?" * 61, b"/+=" * 40):
        token = sealer.seal(plaintext)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
        for char in "/+=?#%& ":
            assert char not in token


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_any_plaintext_round_trips_as_one_path_segment(plaintext):
    sealer = TokenSealer([SECRET_A])
    token = sealer.seal(plaintext)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert sealer.open(token) == plaintext


# --- tampering ---


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_changing_any_byte_of_the_decoded_token_fails(sealer, flip):
    raw = unb64(sealer.seal(CONFIG))
    regions = {"version": range(0, 1), "nonce": range(1, HEADER),
               "ciphertext": range(HEADER, len(raw) - TAG_BYTES), "tag": range(len(raw) - TAG_BYTES, len(raw))}
    assert sum(len(r) for r in regions.values()) == len(raw)
    for name, positions in regions.items():
        assert len(positions) > 0, name
        for i in positions:
            tampered = raw[:i] + bytes([raw[i] ^ flip]) + raw[i + 1:]
            with pytest.raises(InvalidToken):
                sealer.open(b64(tampered))


def _tokens_of_each_tail_shape(sealer) -> list[str]:
    """Tokens whose base64 ends on a whole group, with 2 spare bits, and with 4 spare bits."""
    base = 1 + NONCE_BYTES + TAG_BYTES
    tokens = []
    for extra in range(3):
        plaintext = b"x" * (30 + extra)
        tokens.append(sealer.seal(plaintext))
    assert sorted((base + 30 + e) % 3 for e in range(3)) == [0, 1, 2]
    return tokens


@pytest.mark.parametrize("replacement", ["A", "z", "0", "-", "_", "+", "/", "=", ".", " ", "é"])
def test_changing_any_character_of_the_text_fails(sealer, replacement):
    for token in _tokens_of_each_tail_shape(sealer):
        for i, original in enumerate(token):
            if original == replacement:
                continue
            changed = token[:i] + replacement + token[i + 1:]
            with pytest.raises(InvalidToken):
                sealer.open(changed)


def test_changing_only_the_unused_low_bits_of_the_last_character_fails(sealer):
    checked = 0
    for token in _tokens_of_each_tail_shape(sealer):
        spare_bits = {0: 0, 2: 4, 3: 2}[len(token) % 4]
        last = URL_ALPHABET.index(token[-1])
        for low in range(1, 2 ** spare_bits):
            changed = token[:-1] + URL_ALPHABET[last ^ low]
            # a lenient decoder reads the very same bytes: only the canonical-spelling check refuses it
            assert unb64(changed) == unb64(token)
            with pytest.raises(InvalidToken, match="canonical"):
                sealer.open(changed)
            checked += 1
    assert checked == 3 + 15  # 2 spare bits -> 3 variants, 4 spare bits -> 15


def test_standard_alphabet_spelling_of_the_same_bytes_fails(sealer):
    # find a token holding '-' or '_' and spell it with '+' or '/', which a lenient decoder accepts
    for _ in range(100):
        token = sealer.seal(CONFIG)
        if "-" in token or "_" in token:
            break
    standard = token.replace("-", "+").replace("_", "/")
    assert standard != token and unb64(standard) == unb64(token)
    with pytest.raises(InvalidToken):
        sealer.open(standard)


def test_truncation_fails_at_every_length(sealer):
    token = sealer.seal(CONFIG)
    for length in range(len(token)):
        with pytest.raises(InvalidToken):
            sealer.open(token[:length])


@pytest.mark.parametrize("suffix", ["A", "AA", "AAA", "AAAA", "Zm9v", "=", "==", "-", "_"])
def test_extension_fails(sealer, suffix):
    with pytest.raises(InvalidToken):
        sealer.open(sealer.seal(CONFIG) + suffix)


@pytest.mark.parametrize("stray", ["\n", " ", "\t", ".", "!", "=", "%", "?", "/", "é", "\x00"])
def test_stray_characters_fail_anywhere(sealer, stray):
    token = sealer.seal(CONFIG)
    for i in (0, 1, len(token) // 2, len(token) - 1, len(token)):
        with pytest.raises(InvalidToken):
            sealer.open(token[:i] + stray + token[i:])


def test_padded_token_fails(sealer):
    token = next(t for t in (sealer.seal(b"x" * n) for n in range(3)) if len(t) % 4)
    with pytest.raises(InvalidToken):
        sealer.open(token + "=" * (-len(token) % 4))


@pytest.mark.parametrize("garbage", ["", "A", "AA", "AAAA", "not a token", "....", "A" * 40, "A" * 39])
def test_garbage_fails(sealer, garbage):
    with pytest.raises(InvalidToken):
        sealer.open(garbage)


def test_too_short_is_reported(sealer):
    raw = bytes([VERSION]) + b"\x00" * (NONCE_BYTES + TAG_BYTES - 1)
    with pytest.raises(InvalidToken, match="too short"):
        sealer.open(b64(raw))


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_version_fails_even_when_properly_sealed(sealer, version):
    nonce = b"\x07" * NONCE_BYTES
    header = bytes([version])
    raw = header + nonce + AESGCM(derive_key(SECRET_A)).encrypt(nonce, CONFIG, header)
    with pytest.raises(InvalidToken, match=f"unknown token version {version}"):
        sealer.open(b64(raw))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_arbitrary_text_never_opens_and_never_raises_anything_else(text):
    sealer = TokenSealer([SECRET_A])
    with pytest.raises(InvalidToken):
        sealer.open(text)


# --- rotation ---


def test_a_token_opens_while_its_secret_is_listed():
    token = TokenSealer([SECRET_A]).seal(CONFIG)
    assert TokenSealer([SECRET_B, SECRET_A]).open(token) == CONFIG
    assert TokenSealer([SECRET_A, SECRET_B]).open(token) == CONFIG
    with pytest.raises(InvalidToken, match="no longer lists"):
        TokenSealer([SECRET_B]).open(token)


def test_new_tokens_are_sealed_with_the_first_secret():
    token = TokenSealer([SECRET_B, SECRET_A]).seal(CONFIG)
    assert TokenSealer([SECRET_B]).open(token) == CONFIG
    with pytest.raises(InvalidToken):
        TokenSealer([SECRET_A]).open(token)


def test_three_secrets_any_listed_one_opens():
    secrets = [SECRET_A, SECRET_B, "secret-C-" + "c" * 32]
    rotated = TokenSealer(list(reversed(secrets)))
    for secret in secrets:
        assert rotated.open(TokenSealer([secret]).seal(CONFIG)) == CONFIG


def test_secrets_may_be_a_tuple():
    sealer = TokenSealer(parse_secrets(f"{SECRET_B},{SECRET_A}"))
    assert TokenSealer([SECRET_B]).open(sealer.seal(b"x")) == b"x"


# --- secrets ---


def test_secret_length_minimum():
    assert MIN_SECRET_CHARS == 32
    TokenSealer(["s" * 32])
    with pytest.raises(ValueError, match="#1 is shorter than 32"):
        TokenSealer(["s" * 31])
    with pytest.raises(ValueError, match="#2 is shorter than 32"):
        TokenSealer([SECRET_A, "short"])
    with pytest.raises(ValueError, match="#2 is shorter"):
        TokenSealer([SECRET_A, "", SECRET_B])


def test_no_secret_is_refused():
    with pytest.raises(ValueError, match="no proxy-URL secret"):
        TokenSealer([])
    with pytest.raises(ValueError, match="no proxy-URL secret"):
        TokenSealer(parse_secrets(" , ,"))


def test_a_bare_string_is_not_taken_as_a_list_of_secrets():
    # a str is a Sequence of one-character "secrets": each is too short, so it is refused, not accepted
    with pytest.raises(ValueError):
        TokenSealer(SECRET_A)


def test_parse_secrets():
    assert parse_secrets(f" {SECRET_B} , {SECRET_A},, ") == (SECRET_B, SECRET_A)
    assert parse_secrets(SECRET_A) == (SECRET_A,)
    assert parse_secrets("") == ()
    assert parse_secrets(" , ") == ()


def test_repr_shows_no_secret():
    shown = repr(TokenSealer([SECRET_A, SECRET_B]))
    assert shown.startswith("TokenSealer(")
    assert SECRET_A not in shown and SECRET_B not in shown
