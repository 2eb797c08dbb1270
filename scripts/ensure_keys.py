"""Create the Ed25519 JWT key pair on first run, into the git-ignored .secrets/.

Existing keys are kept."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kernel.config import load_config, resolve_path


def main() -> None:
    jwt_config = load_config()["JWT"]
    private_path = resolve_path(jwt_config["PRIVATE_KEY_FILE"])
    public_path = resolve_path(jwt_config["PUBLIC_KEY_FILE"])
    if private_path.exists() and public_path.exists():
        return
    private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    print(f"generated JWT signing keys in {private_path.parent}")


if __name__ == "__main__":
    main()
