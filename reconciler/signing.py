"""Image signatures: Kuscia's `spec.image.sign`, checked with Ed25519 keys and written by `sign`.

The signed message is `{name}:{tag}@{id}` as UTF-8 (an empty id still keeps the `@`);
`sign` is the standard base64 of the raw 64-byte Ed25519 signature. A key file holds
one or more PEM public keys, and any one key verifying is enough. Signing rewrites
only the `sign` scalar, located through PyYAML's node positions, so comments, order
and layout of everything else in the file stay byte for byte.

`cryptography` is imported only when keys are loaded: a controller run without
`--image-verify-key` never needs it, and it is several MiB of resident memory.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from builders.errors import Problem, Reason
from builders.models import AppImage, Image

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNATURE_BYTES = 64
SIGN_FIELD = "spec.image.sign"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


class KeyFileError(Exception):
    """A key file that cannot be used; the message names the file and the problem."""


class SignError(Exception):
    """A document that cannot be signed; the message names the file, document and field."""


# --- the message and the signature --------------------------------------------------


def signed_message(image: Image) -> bytes:
    return f"{image.name}:{image.tag}@{image.id or ''}".encode()


def sign(key: Ed25519PrivateKey, image: Image) -> str:
    return base64.b64encode(key.sign(signed_message(image))).decode("ascii")


def signature_problem(keys: Sequence[Ed25519PublicKey], image: Image) -> str | None:
    """None when some key verifies `image.sign`; else what is wrong, for people."""
    from cryptography.exceptions import InvalidSignature

    message = signed_message(image).decode()
    if not image.sign:
        return (
            f"is empty, but signatures are required: sign {message!r} with `kuscia-reconciler sign`"
        )
    try:
        signature = base64.b64decode(image.sign, validate=True)
    except (binascii.Error, ValueError):
        return "is not base64"
    if len(signature) != SIGNATURE_BYTES:
        return f"decodes to {len(signature)} bytes; an Ed25519 signature has {SIGNATURE_BYTES}"
    for key in keys:
        try:
            key.verify(signature, signed_message(image))
        except InvalidSignature:
            continue
        return None
    return f"is not a signature of {message!r} by any of the {len(keys)} trusted key(s)"


def check(keys: Sequence[Ed25519PublicKey], app_image: AppImage) -> Problem | None:
    """The AppImage's signature problem, or None; with no keys nothing is checked."""
    if not keys:
        return None
    detail = signature_problem(keys, app_image.spec.image)
    if detail is None:
        return None
    return Problem(
        Reason.IMAGE_SIGNATURE_INVALID,
        f"AppImage {app_image.metadata.name!r}: {SIGN_FIELD} {detail}",
        SIGN_FIELD,
    )


# --- key files --------------------------------------------------------------------


def parse_public_keys(data: bytes, source: str) -> tuple[Ed25519PublicKey, ...]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys: list[Ed25519PublicKey] = []
    for number, block in enumerate(_PEM_BLOCK.finditer(data), start=1):
        label = block.group(1).decode()
        if "PRIVATE" in label:
            raise KeyFileError(
                f"{source}: PEM block {number} is a private key; give the public key "
                "(openssl pkey -in PRIVATE.pem -pubout)"
            )
        try:
            key = load_pem_public_key(block.group(0))
        except ValueError as error:
            raise KeyFileError(
                f"{source}: PEM block {number} is not a public key: {error}"
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(
                f"{source}: PEM block {number} is a {type(key).__name__}, not an Ed25519 key"
            )
        keys.append(key)
    if not keys:
        raise KeyFileError(f"{source}: no PEM public key ('-----BEGIN PUBLIC KEY-----') in it")
    return tuple(keys)


def load_public_keys(paths: Iterable[Path]) -> tuple[Ed25519PublicKey, ...]:
    """Every public key of every file, in order; raises KeyFileError."""
    keys: list[Ed25519PublicKey] = []
    for path in paths:
        keys.extend(parse_public_keys(_read(path), str(path)))
    return tuple(keys)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An unencrypted PEM (PKCS#8) Ed25519 private key; raises KeyFileError."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = _read(path)
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(
            f"{path}: the private key is encrypted; give an unencrypted one"
        ) from None
    except ValueError as error:
        raise KeyFileError(f"{path}: not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: a {type(key).__name__}, not an Ed25519 private key")
    return key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read: {error.strerror or error}") from None


# --- signing YAML in place ------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    text: str
    app_images: tuple[str, ...]  # `name (name:tag@id)` of each AppImage signed, in order


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def sign_yaml(text: str, key: Ed25519PrivateKey, source: str) -> Signed:
    """`text` with `spec.image.sign` of every AppImage document set to a fresh signature;
    every other byte is kept. Raises SignError."""
    loader = yaml.SafeLoader(text)
    edits: list[_Edit] = []
    signed: list[str] = []
    try:
        number = 0
        while loader.check_node():
            number += 1
            node = loader.get_node()
            if node is None:
                continue
            where = f"{source} (document {number})"
            document = loader.construct_document(node)
            if not isinstance(document, dict) or document.get("kind") != "AppImage":
                continue
            edit, image, name = _sign_document(node, document, key, text, where)
            edits.append(edit)
            signed.append(f"{name} ({signed_message(image).decode()})")
    except yaml.YAMLError as error:
        raise SignError(f"{source}: not valid YAML: {error}") from None
    finally:
        loader.dispose()
    if not edits:
        raise SignError(f"{source}: no AppImage document to sign")
    result = text
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        result = result[: edit.start] + edit.text + result[edit.end :]
    _check_only_signatures_changed(text, result, source)
    return Signed(result, tuple(signed))


def _sign_document(
    node: yaml.Node, document: dict[str, Any], key: Ed25519PrivateKey, text: str, where: str
) -> tuple[_Edit, Image, str]:
    name = str((document.get("metadata") or {}).get("name", "?"))
    spec_node = _child(node, "spec")
    image_node = _child(spec_node, "image") if spec_node is not None else None
    raw_image = (document.get("spec") or {}).get("image")
    if not isinstance(image_node, yaml.MappingNode) or not isinstance(raw_image, dict):
        raise SignError(f"{where}: AppImage {name!r} has no spec.image mapping")
    fields = {k: raw_image.get(k) for k in ("name", "tag", "id")}
    if not fields["tag"]:
        raise SignError(f"{where}: AppImage {name!r}: spec.image.tag is required to sign")
    bad = [k for k, v in fields.items() if v is not None and not isinstance(v, str)]
    if bad:
        raise SignError(f"{where}: AppImage {name!r}: spec.image.{bad[0]} must be a string")
    image = Image(**{k: v or "" for k, v in fields.items()})
    quoted = f'"{sign(key, image)}"'
    return _sign_edit(image_node, quoted, text), image, name


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def _sign_edit(image: yaml.MappingNode, quoted: str, text: str) -> _Edit:
    for key_node, value_node in image.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "sign":
            return _replace_value(key_node, value_node, quoted, text)
    if image.flow_style:
        close = image.end_mark.index - 1  # the '}'
        return _Edit(close, close, f", sign: {quoted}")
    first_key, last_value = image.value[0][0], image.value[-1][1]
    line = " " * first_key.start_mark.column + f"sign: {quoted}\n"
    end = last_value.end_mark.index
    line_start = text.rfind("\n", 0, end) + 1
    if not text[line_start:end].strip():  # the value ended at the start of a later line
        return _Edit(line_start, line_start, line)
    newline = text.find("\n", end)
    if newline < 0:
        return _Edit(len(text), len(text), "\n" + line)
    return _Edit(newline + 1, newline + 1, line)


def _replace_value(key: yaml.Node, value: yaml.Node, quoted: str, text: str) -> _Edit:
    start, end = value.start_mark.index, value.end_mark.index
    if isinstance(value, yaml.ScalarNode) and start == end:  # `sign:` with nothing after it
        colon = text.index(":", key.end_mark.index)
        return _Edit(colon + 1, colon + 1, f" {quoted}")
    replaced = text[start:end]
    # A block scalar ('|', '>') owns the line breaks after it; keep the first one.
    return _Edit(start, end, quoted + ("\n" if replaced.endswith("\n") else ""))


def _check_only_signatures_changed(before: str, after: str, source: str) -> None:
    def without_signs(text: str) -> list[Any]:
        documents = list(yaml.safe_load_all(text))
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "AppImage":
                document["spec"]["image"].pop("sign", None)
        return documents

    if without_signs(before) != without_signs(after):
        raise SignError(f"{source}: signing would change more than spec.image.sign; not written")
