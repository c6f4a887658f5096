"""PINs are stored only as peppered hashes; API tokens only as SHA-256."""

from __future__ import annotations

from ivr_gateway.hashing import hash_api_token, hash_pin, new_api_token, verify_pin


def test_a_pin_verifies_only_with_the_same_pepper() -> None:
    stored = hash_pin("4721", "pepper-one")
    assert stored.startswith("$argon2id$")
    assert "4721" not in stored
    assert verify_pin(stored, "4721", "pepper-one")
    assert not verify_pin(stored, "4722", "pepper-one")
    # A leaked database without the pepper: even the right PIN does not verify.
    assert not verify_pin(stored, "4721", "pepper-two")


def test_the_same_pin_hashes_differently_each_time() -> None:
    assert hash_pin("4721", "p") != hash_pin("4721", "p")


def test_a_missing_or_corrupt_hash_never_matches() -> None:
    assert not verify_pin(None, "4721", "p")
    assert not verify_pin("not a hash", "4721", "p")


def test_api_tokens_are_random_and_stored_as_sha256() -> None:
    token = new_api_token()
    assert token.startswith("ivr_") and token != new_api_token()
    assert len(hash_api_token(token)) == 64 and token not in hash_api_token(token)
