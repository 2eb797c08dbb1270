"""The access-token codec as a dependency: keys are read once per container from config."""

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

from kernel.tokens import TokenCodec


class AccessTokens(DependencyProvider):
    def __init__(self, signing: bool = False) -> None:
        self.signing = signing
        self.codec: TokenCodec | None = None

    def setup(self) -> None:
        self.codec = TokenCodec.from_config(self.container.config, signing=self.signing)

    def get_dependency(self, worker_ctx: WorkerContext) -> TokenCodec:
        assert self.codec is not None
        return self.codec
