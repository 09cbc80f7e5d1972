"""Which log watcher reads which upstream: the adapters by name."""

from __future__ import annotations

from collections.abc import Callable

from evaluators.upstream.airbench96.watch import AirbenchWatch
from evaluators.upstream.config import Config, Phases
from evaluators.upstream.nanochat_d12.watch import NanochatWatch
from evaluators.upstream.parameter_golf.watch import GolfWatch
from evaluators.upstream.watch import Watch

WATCHES: dict[str, Callable[[Phases], Watch]] = {
    "parameter-golf": GolfWatch,
    "nanochat-d12": NanochatWatch,
    "airbench96": AirbenchWatch,
}


def watch_for(config: Config) -> Watch:
    try:
        factory = WATCHES[config.adapter]
    except KeyError:
        raise ValueError(
            f"unknown upstream adapter {config.adapter!r}: {', '.join(WATCHES)}"
        ) from None
    return factory(config.phases)
