"""Image signatures: the exact message and encoding, key files, and `sign` rewriting only
`spec.image.sign` of YAML it is given."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    PublicFormat,
)

from builders.models import AppImage, Image
from reconciler import signing
from reconciler.commands import cli
from tests.conftest import EXAMPLES
from tests.security.keys import KeyPair, key_pair, write


@pytest.fixture(scope="module")
def pair() -> KeyPair:
    return key_pair()


def _image(**fields: str) -> Image:
    return Image(**{"name": "repo/app", "tag": "v1", "id": "sha256:0a1b", **fields})


def _signed_image(pair: KeyPair, **fields: str) -> Image:
    image = _image(**fields)
    return image.model_copy(update={"sign": signing.sign(pair.private, image)})


def _public(pair: KeyPair) -> tuple[signing.Ed25519PublicKey, ...]:
    return signing.parse_public_keys(pair.public_pem, "test")


# --- the message and the signature ------------------------------------------------------


def test_the_signed_message_is_name_colon_tag_at_id_in_utf8() -> None:
    assert signing.signed_message(_image()) == b"repo/app:v1@sha256:0a1b"
    assert signing.signed_message(_image(id="")) == b"repo/app:v1@"
    assert signing.signed_message(_image(name="образ")) == "образ:v1@sha256:0a1b".encode()


def test_the_signature_is_base64_of_the_raw_64_byte_ed25519_signature(pair: KeyPair) -> None:
    signature = base64.b64decode(signing.sign(pair.private, _image()), validate=True)
    assert len(signature) == 64
    pair.private.public_key().verify(signature, b"repo/app:v1@sha256:0a1b")


def test_a_valid_signature_has_no_problem(pair: KeyPair) -> None:
    assert signing.signature_problem(_public(pair), _signed_image(pair)) is None


@pytest.mark.parametrize(
    ("sign", "problem"),
    [
        ("", "is empty"),
        ("not base64!", "is not base64"),
        ("YWJj", "decodes to 3 bytes; an Ed25519 signature has 64"),
    ],
)
def test_a_malformed_signature_says_what_is_wrong(pair: KeyPair, sign: str, problem: str) -> None:
    found = signing.signature_problem(_public(pair), _image(sign=sign))
    assert found is not None
    assert problem in found


@pytest.mark.parametrize("changed", [{"name": "repo/evil"}, {"tag": "v2"}, {"id": "sha256:ff"}])
def test_a_signature_of_another_image_does_not_verify(
    pair: KeyPair, changed: dict[str, str]
) -> None:
    moved = _signed_image(pair).model_copy(update=changed)
    found = signing.signature_problem(_public(pair), moved)
    assert found is not None
    assert "is not a signature of" in found
    assert signing.signed_message(moved).decode() in found


def test_any_one_trusted_key_verifying_is_enough(pair: KeyPair) -> None:
    other = key_pair()
    keys = signing.parse_public_keys(other.public_pem + pair.public_pem, "two keys")
    assert len(keys) == 2
    assert signing.signature_problem(keys, _signed_image(pair)) is None
    assert signing.signature_problem(keys[:1], _signed_image(pair)) is not None


def test_without_keys_nothing_is_checked() -> None:
    app_image = AppImage.model_validate(
        {
            "metadata": {"name": "img"},
            "spec": {"image": {"tag": "v1"}, "deployTemplates": [{"spec": {"containers": []}}]},
        }
    )
    assert signing.check((), app_image) is None


def test_a_bad_signature_is_a_problem_naming_the_app_image_and_field(pair: KeyPair) -> None:
    app_image = AppImage.model_validate(
        {
            "metadata": {"name": "img"},
            "spec": {
                "image": {"name": "repo/app", "tag": "v1", "sign": "nkdy7pad09iuadjd"},
                "deployTemplates": [{"spec": {"containers": [{"name": "c"}]}}],
            },
        }
    )
    problem = signing.check(_public(pair), app_image)
    assert problem is not None
    assert (problem.reason, problem.field) == ("ImageSignatureInvalid", "spec.image.sign")
    assert problem.message.startswith("AppImage 'img': spec.image.sign ")


# --- key files ---------------------------------------------------------------------------


def test_keys_are_read_from_several_files_in_order(tmp_path: Path, pair: KeyPair) -> None:
    other = key_pair()
    first = write(tmp_path, "a.pem", b"# ours\n" + pair.public_pem + other.public_pem)
    second = write(tmp_path, "b.pem", other.public_pem)
    assert len(signing.load_public_keys([first, second])) == 3


def test_a_private_key_given_as_a_verify_key_is_refused(tmp_path: Path, pair: KeyPair) -> None:
    path = write(tmp_path, "private.pem", pair.private_pem)
    with pytest.raises(signing.KeyFileError, match=r"private\.pem: PEM block 1 is a private key"):
        signing.load_public_keys([path])


def test_a_key_of_another_algorithm_is_refused(tmp_path: Path) -> None:
    rsa = generate_private_key(public_exponent=65537, key_size=1024).public_key()
    path = write(
        tmp_path, "rsa.pem", rsa.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(signing.KeyFileError, match="not an Ed25519 key"):
        signing.load_public_keys([path])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "no PEM public key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "is not a public key"),
    ],
)
def test_a_key_file_without_a_usable_key_is_refused(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    with pytest.raises(signing.KeyFileError, match=problem):
        signing.load_public_keys([write(tmp_path, "k.pem", content)])


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(signing.KeyFileError, match=r"nope\.pem: cannot read"):
        signing.load_public_keys([tmp_path / "nope.pem"])


def test_an_encrypted_private_key_is_refused(tmp_path: Path, pair: KeyPair) -> None:
    encrypted = pair.private.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
    )
    with pytest.raises(signing.KeyFileError, match="encrypted"):
        signing.load_private_key(write(tmp_path, "enc.pem", encrypted))


def test_a_public_key_given_to_sign_is_refused(tmp_path: Path, pair: KeyPair) -> None:
    with pytest.raises(signing.KeyFileError, match="not a PEM private key"):
        signing.load_private_key(write(tmp_path, "pub.pem", pair.public_pem))


# --- rewriting YAML ----------------------------------------------------------------------


def _sign_of(text: str, index: int = 0) -> Image:
    documents = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "AppImage"]
    return Image.model_validate(documents[index]["spec"]["image"])


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]


def test_signing_an_example_changes_only_its_sign_line(pair: KeyPair) -> None:
    text = (EXAMPLES / "secretflow-image.yaml").read_text()
    signed = signing.sign_yaml(text, pair.private, "secretflow-image.yaml")
    image = _sign_of(signed.text)
    assert _changed_lines(text, signed.text) == [
        ("    sign: abc13mnjh1olkkp1", f'    sign: "{image.sign}"')
    ]
    assert signing.signature_problem(_public(pair), image) is None
    assert signed.app_images == (
        "secretflow-image (secretflow/secretflow-lite-anolis8:latest@d4ffa123aa45mnkj)",
    )


MULTI = """\
# Two AppImages and a task; comments and order must survive.
apiVersion: kuscia.secretflow/v1alpha1
kind: KusciaTask
metadata: {name: t, namespace: ns}
spec:
  initiator: alice   # who started it
  parties: [{domainID: alice, appImageRef: one}]
---
apiVersion: kuscia.secretflow/v1alpha1
kind: AppImage
metadata:
  name: one
spec:
  image:
    # no sign yet
    name: repo/one
    tag: "1.0"   # quoted on purpose
  deployTemplates:
  - spec: {containers: [{name: c}]}
---
apiVersion: kuscia.secretflow/v1alpha1
kind: AppImage
metadata: {name: two}
spec:
  image: {name: repo/two, tag: v2, id: abc}
  deployTemplates: [{spec: {containers: [{name: c}]}}]
---
apiVersion: kuscia.secretflow/v1alpha1
kind: AppImage
metadata: {name: three}
spec:
  deployTemplates: [{spec: {containers: [{name: c}]}}]
  image:
    name: repo/three
    sign:
    tag: v3
...
"""


def test_every_app_image_of_a_multi_document_file_is_signed_and_nothing_else_changes(
    pair: KeyPair,
) -> None:
    signed = signing.sign_yaml(MULTI, pair.private, "multi.yaml")
    assert len(signed.app_images) == 3
    for index in range(3):
        assert signing.signature_problem(_public(pair), _sign_of(signed.text, index)) is None
    one, two, three = (_sign_of(signed.text, i).sign for i in range(3))
    expected = (
        MULTI.replace(
            '    tag: "1.0"   # quoted on purpose\n',
            f'    tag: "1.0"   # quoted on purpose\n    sign: "{one}"\n',
        )
        .replace("id: abc}", f'id: abc, sign: "{two}"}}')
        .replace("    sign:\n", f'    sign: "{three}"\n')
    )
    assert signed.text == expected


@pytest.mark.parametrize(
    "image",
    [
        "  image:\n    name: repo/x\n    tag: v1\n    sign: |\n      old\n      lines\n",
        "  image:\n    name: repo/x\n    sign: 'old'\n    tag: v1\n",
        "  image:\n    name: repo/x\n    tag: v1",  # no newline at the end of the file
    ],
    ids=["block-scalar", "quoted-in-the-middle", "no-final-newline"],
)
def test_any_layout_of_spec_image_gets_a_verifying_sign(pair: KeyPair, image: str) -> None:
    text = "kind: AppImage\nmetadata: {name: x}\nspec:\n" + image
    signed = signing.sign_yaml(text, pair.private, "x.yaml")
    assert signing.signature_problem(_public(pair), _sign_of(signed.text)) is None


def test_signing_twice_gives_the_same_text(pair: KeyPair) -> None:
    once = signing.sign_yaml(MULTI, pair.private, "m").text
    assert signing.sign_yaml(once, pair.private, "m").text == once


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("kind: KusciaTask\nmetadata: {name: t}\n", r"no AppImage document to sign"),
        (
            "kind: AppImage\nmetadata: {name: x}\nspec: {}\n",
            r"document 1\): AppImage 'x' has no spec\.image",
        ),
        (
            "kind: AppImage\nmetadata: {name: x}\nspec: {image: {name: a}}\n",
            r"spec\.image\.tag is required",
        ),
        ("kind: AppImage\nspec: [\n", r"not valid YAML"),
    ],
)
def test_what_cannot_be_signed_is_refused_naming_the_document(
    pair: KeyPair, text: str, problem: str
) -> None:
    with pytest.raises(signing.SignError, match=problem):
        signing.sign_yaml(text, pair.private, "in.yaml")


# --- the command line --------------------------------------------------------------------


def test_sign_writes_signed_yaml_to_stdout_and_leaves_the_file(
    tmp_path: Path, pair: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write(tmp_path, "private.pem", pair.private_pem)
    source = write(tmp_path, "multi.yaml", MULTI.encode())
    assert cli.main(["sign", "--key", str(key), "-f", str(source)]) == 0
    out, err = capsys.readouterr()
    assert out == signing.sign_yaml(MULTI, pair.private, "m").text
    assert source.read_text() == MULTI
    assert err.count("signed AppImage") == 3


def test_sign_in_place_rewrites_each_file(tmp_path: Path, pair: KeyPair) -> None:
    key = write(tmp_path, "private.pem", pair.private_pem)
    first = write(tmp_path, "a.yaml", (EXAMPLES / "app-template.yaml").read_bytes())
    second = write(tmp_path, "b.yaml", MULTI.encode())
    assert cli.main(["sign", "--key", str(key), "-f", str(first), "-f", str(second), "-i"]) == 0
    assert signing.signature_problem(_public(pair), _sign_of(first.read_text())) is None
    assert signing.signature_problem(_public(pair), _sign_of(second.read_text(), 2)) is None


def test_sign_reads_standard_input(
    tmp_path: Path,
    pair: KeyPair,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = write(tmp_path, "private.pem", pair.private_pem)
    monkeypatch.setattr("sys.stdin", io.StringIO(MULTI))
    assert cli.main(["sign", "--key", str(key), "-f", "-"]) == 0
    assert signing.signature_problem(_public(pair), _sign_of(capsys.readouterr().out)) is None


def test_sign_writes_nothing_when_one_file_fails(
    tmp_path: Path, pair: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write(tmp_path, "private.pem", pair.private_pem)
    good = write(tmp_path, "good.yaml", MULTI.encode())
    bad = write(tmp_path, "bad.yaml", b"kind: KusciaTask\n")
    assert cli.main(["sign", "--key", str(key), "-f", str(good), "-f", str(bad), "-i"]) == 1
    assert good.read_text() == MULTI
    assert "bad.yaml: no AppImage document to sign" in capsys.readouterr().err


def test_sign_with_a_bad_key_file_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sign", "--key", str(tmp_path / "none.pem"), "-f", "x.yaml"]) == 1
    assert "none.pem: cannot read" in capsys.readouterr().err


def test_run_reads_every_image_verify_key_into_the_settings(tmp_path: Path) -> None:
    first = write(tmp_path, "a.pem", key_pair().public_pem + key_pair().public_pem)
    second = write(tmp_path, "b.pem", key_pair().public_pem)
    args = cli._parser().parse_args(
        ["run", "--image-verify-key", str(first), "--image-verify-key", str(second)]
    )
    assert len(cli._settings(args).image_verify_keys) == 3


def test_run_without_the_flag_checks_no_signature() -> None:
    assert cli._settings(cli._parser().parse_args(["run"])).image_verify_keys == ()


def test_run_with_an_unusable_key_file_stops_with_its_name(tmp_path: Path) -> None:
    path = write(tmp_path, "private.pem", key_pair().private_pem)
    args = cli._parser().parse_args(["run", "--image-verify-key", str(path)])
    with pytest.raises(SystemExit, match=r"--image-verify-key .*private\.pem: PEM block 1"):
        cli._settings(args)


def test_ed25519_signatures_are_deterministic() -> None:
    key = Ed25519PrivateKey.generate()
    assert signing.sign(key, _image()) == signing.sign(key, _image())


def test_a_controller_without_verify_keys_never_loads_the_crypto_library() -> None:
    # Several MiB of resident memory that only --image-verify-key needs.
    probe = (
        "import sys\n"
        "from reconciler import controller\n"
        "from reconciler.commands import cli, sign\n"
        "from reconciler.settings import Settings\n"
        "assert not Settings().image_verify_keys\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] == 'cryptography']\n"
        "sys.exit(f'loaded: {loaded}' if loaded else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
